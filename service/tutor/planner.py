"""The offline tutor's plan: which tools to call, decided from the user's message alone.

Without a language model the tutor still looks things up, deterministically:
- always the user's own context (goals, level, time), so the answer fits them;
- a recording id in the message, or "my recording", "last take", ... -> that recording's
  analysis (the newest completed one of the caller's own, found with list_recordings);
- then a knowledge-base search: for the message, sharpened by the dimensions the analysis
  found furthest towards their weak pole.
Only the user's message and the caller's own recording list steer it: text inside documents or
recording names never becomes a tool call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_MY_RECORDING = re.compile(
    r"\b(?:my|last|latest|recent|previous|newest)\s+(?:\w+\s+)?"
    r"(?:recordings?|takes?|performances?|uploads?|attempts?|playing)\b",
    re.I,
)

# Dimensions where one pole is what a teacher would work on, that pole (0 or 1), and words that
# find pedagogy about it. Scales whose poles are both fine (bright/dark, ...) never count as
# weak: the analysis reports them, the planner doesn't search for them.
WEAK_POLES: dict[str, tuple[int, str]] = {
    "timing_stable_unstable": (1, "steady timing rhythm practise slowly with a metronome"),
    "pedal_clean_blurred": (1, "clean pedalling change the pedal after the harmony"),
    "dynamic_range_little_large": (0, "dynamics contrast forte piano shading of tone"),
    "music_making_flat_spacious": (0, "phrasing expression shaping a phrase"),
    "music_making_disproportioned_balanced": (0, "balance between the hands melody accompaniment"),
    "interpretation_unsatisfactory_convincing": (0, "interpretation character of the piece"),
    "articulation_short_long": (0, "legato touch connecting the notes"),
}
WEAK_DISTANCE = 0.35  # a score this close to the weak pole (or closer) counts as weak


@dataclass(frozen=True)
class Plan:
    recording_ids: tuple[str, ...]
    latest_recording: bool

    @property
    def wants_analysis(self) -> bool:
        return bool(self.recording_ids) or self.latest_recording


def plan(message: str) -> Plan:
    ids = tuple(dict.fromkeys(m.lower() for m in _UUID.findall(message)))[:2]
    return Plan(recording_ids=ids, latest_recording=not ids and bool(_MY_RECORDING.search(message)))


def weak_dimensions(dimensions: dict[str, Any]) -> list[tuple[str, float]]:
    """(name, score) of the measured dimensions close to their weak pole, worst first."""
    weak: list[tuple[float, str, float]] = []
    for name, (pole, _) in WEAK_POLES.items():
        score = (dimensions.get(name) or {}).get("score")
        if score is None:
            continue
        distance = abs(float(score) - pole)
        if distance <= WEAK_DISTANCE:
            weak.append((distance, name, float(score)))
    return [(name, score) for _, name, score in sorted(weak)]


def search_query(message: str, weak: list[tuple[str, float]]) -> str:
    """The message, with the search words of the two weakest dimensions added."""
    extra = " ".join(WEAK_POLES[name][1] for name, _ in weak[:2])
    return f"{message.strip()} {extra}".strip()[:500]
