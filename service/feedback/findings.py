"""From an analysis to findings: which judged dimensions are strengths, which need work, and
the segments ("0:30-0:33") where each shows. Pure functions over the stored analysis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.feedback.catalogue import BY_DIMENSION, Judgement
from service.repositories.recordings import AnalysisRow

MAX_FOCUS = 3
MAX_STRENGTHS = 3
MAX_SEGMENTS = 5


@dataclass(frozen=True)
class Finding:
    judgement: Judgement
    score: float
    priority: float  # focus areas: concern x weight, highest first
    segments: tuple[str, ...]

    @property
    def dimension(self) -> str:
        return self.judgement.dimension


@dataclass(frozen=True)
class Findings:
    focus: tuple[Finding, ...]
    strengths: tuple[Finding, ...]
    measured: tuple[str, ...]  # every dimension the analyser scored
    unmeasured: tuple[str, ...]


def _segments_where(
    judgement: Judgement, segments: list[dict[str, Any]], *, focus: bool
) -> tuple[str, ...]:
    """The segments where the finding shows: for a focus area the ones past the focus
    threshold (worst first); for a strength the ones at the strength level (in order)."""
    scored = [
        (s["label"], s["scores"][judgement.dimension])
        for s in segments
        if isinstance(s.get("scores", {}).get(judgement.dimension), int | float)
    ]
    if focus:
        hits = [(label, judgement.concern(v)) for label, v in scored if judgement.is_focus(v)]
        hits.sort(key=lambda lv: -lv[1])
        return tuple(label for label, _ in hits[:MAX_SEGMENTS])
    return tuple(label for label, v in scored if judgement.is_strength(v))[:MAX_SEGMENTS]


def findings(analysis: AnalysisRow) -> Findings:
    focus: list[Finding] = []
    strengths: list[Finding] = []
    for dimension, score in analysis.scores.items():
        judgement = BY_DIMENSION.get(dimension)
        if judgement is None or score is None:
            continue
        if judgement.is_focus(score):
            focus.append(
                Finding(
                    judgement,
                    score,
                    judgement.concern(score) * judgement.weight,
                    _segments_where(judgement, analysis.segments, focus=True),
                )
            )
        elif judgement.is_strength(score):
            strengths.append(
                Finding(
                    judgement,
                    score,
                    0.0,
                    _segments_where(judgement, analysis.segments, focus=False),
                )
            )
    focus.sort(key=lambda f: (-f.priority, f.dimension))
    strengths.sort(key=lambda f: (-f.judgement.weight, f.dimension))
    # Two judged dimensions may name the same skill (both pedal scales): report it once.
    return Findings(
        focus=tuple(_one_per_label(focus))[:MAX_FOCUS],
        strengths=tuple(_one_per_label(strengths))[:MAX_STRENGTHS],
        measured=tuple(d for d, s in analysis.scores.items() if s is not None),
        unmeasured=tuple(d for d, s in analysis.scores.items() if s is None),
    )


def _one_per_label(items: list[Finding]) -> list[Finding]:
    seen: set[str] = set()
    out = []
    for f in items:
        if f.judgement.label not in seen:
            seen.add(f.judgement.label)
            out.append(f)
    return out
