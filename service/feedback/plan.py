"""The practice plan: concrete exercises for the focus areas, with minutes that add up to the
student's daily practice time, pitched to their level and adapted to their constraints.

Constraints are free text, so only a few well-defined ones are recognised (no metronome, no
sustain pedal, pain or injury); each adaptation made is listed, so the student sees what was
taken into account, and nothing else is claimed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.feedback.catalogue import RUN_THROUGH, WARM_UP, Exercise
from service.feedback.findings import Finding

# Starting tempo as a share of the measured one, by level: slower for less experience.
_TEMPO_SHARE = {"beginner": 0.6, "intermediate": 0.7, "advanced": 0.8, "professional": 0.85}
_DEFAULT_SHARE = 0.7
_MIN_BPM, _MAX_BPM = 40, 208  # a metronome's range
_LEVEL_NOTE = {
    "beginner": " Work hands separately first, a few bars at a time.",
    "intermediate": " Hands separately once, then together.",
    "advanced": "",
    "professional": "",
}
INJURY_BLOCK_MINUTES = 10  # longest single block when the student reports pain or injury

_NO_METRONOME = re.compile(r"\b(no|without|don'?t have an?|lacks? an?)\s+metronome", re.I)
_NO_PEDAL = re.compile(r"\b(no|without|broken)\s+(sustain\s+|damper\s+)?pedal", re.I)
_INJURY = re.compile(r"\b(pain|injur|tendin|tendon|strain|wrist|rsi)\w*", re.I)


@dataclass(frozen=True)
class PlanItem:
    title: str
    minutes: int
    instructions: str
    dimension: str | None


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...]
    minutes_per_day: int
    minutes_assumed: bool  # the student hasn't stated their daily time
    adapted_for: tuple[str, ...]


@dataclass(frozen=True)
class Constraints:
    no_metronome: bool
    no_pedal: bool
    injury: bool

    @classmethod
    def read(cls, text: str) -> Constraints:
        return cls(
            no_metronome=bool(_NO_METRONOME.search(text)),
            no_pedal=bool(_NO_PEDAL.search(text)),
            injury=bool(_INJURY.search(text)),
        )

    def notes(self) -> tuple[str, ...]:
        out = []
        if self.no_metronome:
            out.append("no metronome: counting aloud instead")
        if self.no_pedal:
            out.append("no sustain pedal: pedal exercises left out")
        if self.injury:
            out.append(
                f"pain or injury mentioned: blocks of at most {INJURY_BLOCK_MINUTES} minutes; "
                "stop at any discomfort"
            )
        return tuple(out)


def start_tempo(tempo_bpm: float | None, level: str | None) -> int:
    share = _TEMPO_SHARE.get(level or "", _DEFAULT_SHARE)
    base = tempo_bpm if tempo_bpm and tempo_bpm > 0 else 100.0
    return int(min(_MAX_BPM, max(_MIN_BPM, round(base * share / 2) * 2)))


def _instructions(exercise: Exercise, tempo: int, level: str | None, c: Constraints) -> str:
    text = exercise.instructions.format(tempo=tempo)
    if exercise.metronome and c.no_metronome:
        text = (
            text.replace("Set the metronome to", "Count aloud at")
            .replace("the metronome", "your counting")
            .replace("per click", "per count")
        )
        text += " Without a metronome, count aloud and record yourself to check the pulse."
    text += _LEVEL_NOTE.get(level or "", "")
    if c.injury:
        text += " Stop at any discomfort."
    return text


def _split(total: int, weights: list[float]) -> list[int]:
    """Whole minutes in proportion to `weights` that add up to exactly `total` (largest
    remainders get the leftover minutes)."""
    if not weights or total <= 0:
        return [0] * len(weights)
    raw = [total * w / sum(weights) for w in weights]
    out = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: -(raw[i] - out[i]))[: total - sum(out)]:
        out[i] += 1
    return out


def practice_plan(
    focus: tuple[Finding, ...],
    *,
    minutes: int | None,
    default_minutes: int,
    level: str | None,
    constraints: str,
    tempo_bpm: float | None,
) -> Plan:
    c = Constraints.read(constraints)
    total = default_minutes if minutes is None else minutes
    tempo = start_tempo(tempo_bpm, level)
    if total <= 0:
        return Plan((), 0, minutes is None, c.notes())
    warm = 0 if total < 10 else min(5, max(2, round(total * 0.1)))
    blocks: list[tuple[Exercise, str | None, float]] = []
    for f in focus:
        usable = [e for e in f.judgement.exercises if not (e.pedal and c.no_pedal)]
        # Two exercises for the main focus when there is time for both, one for the others.
        take = 2 if f is focus[0] and total - warm >= 20 else 1
        for e in usable[:take]:
            blocks.append((e, f.dimension, f.priority + 0.1))
    if not blocks:
        blocks.append((RUN_THROUGH, None, 1.0))
    # Short days can't fit every block at a useful length (3 minutes or more): drop the least
    # important until they can.
    while len(blocks) > 1 and (total - warm) / len(blocks) < 3:
        blocks.pop()
    shares = _split(total - warm, [w for _, _, w in blocks])
    items = (
        [PlanItem(WARM_UP.title, warm, _instructions(WARM_UP, tempo, level, c), None)]
        if warm
        else []
    )
    for (exercise, dimension, _), share in zip(blocks, shares, strict=True):
        title = exercise.title
        if exercise.metronome and c.no_metronome:
            title = title.replace("Metronome", "Counting aloud")
        items.append(PlanItem(title, share, _instructions(exercise, tempo, level, c), dimension))
    if c.injury:
        items = _capped(items)
    return Plan(tuple(i for i in items if i.minutes > 0), total, minutes is None, c.notes())


def _capped(items: list[PlanItem]) -> list[PlanItem]:
    """Splits any block longer than the injury cap into rounds with a break between them: the
    day's time is the same, no single stretch is long."""
    out: list[PlanItem] = []
    for item in items:
        rounds = -(-item.minutes // INJURY_BLOCK_MINUTES)
        if rounds <= 1:
            out.append(item)
            continue
        for n, share in enumerate(_split(item.minutes, [1.0] * rounds), start=1):
            out.append(
                PlanItem(
                    f"{item.title} (round {n} of {rounds})",
                    share,
                    item.instructions + " Rest your hands for a few minutes before the next round.",
                    item.dimension,
                )
            )
    return out
