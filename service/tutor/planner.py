"""The offline tutor's plan: which tools to call, decided from the user's message alone.

Without a language model the tutor still looks things up, deterministically:
- always the user's own context (goals, level, time), so the answer fits them;
- a recording id in the message, or "my recording", "last take", ... -> that recording's
  analysis (the newest completed one of the caller's own, found with list_recordings);
- then a knowledge-base search: for the message, sharpened by the dimensions the analysis
  that need work (the feedback report's judgement of each score).
Only the user's message and the caller's own recording list steer it: text inside documents or
recording names never becomes a tool call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from service.feedback.catalogue import BY_DIMENSION

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_MY_RECORDING = re.compile(
    r"\b(?:my|last|latest|recent|previous|newest)\s+(?:\w+\s+)?"
    r"(?:recordings?|takes?|performances?|uploads?|attempts?|playing)\b",
    re.I,
)


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
    """(name, score) of the judged dimensions whose score is something to work on, worst first:
    the feedback report's rule (service/feedback/catalogue.py), so the tutor and the report never
    disagree on what needs work. Scales whose poles are both fine (bright/dark, ...) are never
    weak: the analysis reports them, the planner doesn't search for them."""
    weak: list[tuple[float, str, float]] = []
    for name, judgement in BY_DIMENSION.items():
        score = (dimensions.get(name) or {}).get("score")
        if score is None or not judgement.is_focus(float(score)):
            continue
        weak.append((-judgement.concern(float(score)) * judgement.weight, name, float(score)))
    return [(name, score) for _, name, score in sorted(weak)]


def search_query(message: str, weak: list[tuple[str, float]]) -> str:
    """The message, with the search words of the two weakest dimensions added."""
    extra = " ".join(BY_DIMENSION[name].query for name, _ in weak[:2])
    return f"{message.strip()} {extra}".strip()[:500]
