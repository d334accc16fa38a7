"""What an analysis produces: scores per dimension and measurements, for the whole recording and
for each 3-second segment, plus how every number was produced (unit, range, computation)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

SEGMENT_SECONDS = 3.0

Value = float | str | None


def clock(seconds: int) -> str:
    """`m:ss`, as segment labels show times."""
    return f"{seconds // 60}:{seconds % 60:02d}"


def segment_label(start: float, end: float) -> str:
    """`"0:00-0:03"`: whole seconds that cover the segment (9.0-9.5 s is "0:09-0:10")."""
    return f"{clock(math.floor(start + 1e-6))}-{clock(math.ceil(end - 1e-6))}"


@dataclass(frozen=True)
class Definition:
    """How one analyser produces one number: the contract a reader needs to interpret it."""

    name: str
    kind: Literal["dimension", "measurement"]
    unit: str
    range: tuple[float | None, float | None] | None  # None: a label, not a number
    computation: str | None  # None when this analyser doesn't measure it
    low: str | None = None  # dimensions: what 0 means
    high: str | None = None  # dimensions: what 1 means
    reason: str | None = None  # why this analyser never measures it
    labels: tuple[str, ...] = ()  # measurements that are labels: the possible values

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "unit": self.unit,
            "range": list(self.range) if self.range else None,
            "computation": self.computation,
        }
        if self.kind == "dimension":
            out |= {"low": self.low, "high": self.high}
        if self.reason:
            out["reason"] = self.reason
        if self.labels:
            out["labels"] = list(self.labels)
        return out


@dataclass(frozen=True)
class Span:
    """Scores for one stretch of the recording: the whole of it, or one segment.

    `scores` has every dimension; a null one has its reason in `reasons`."""

    scores: dict[str, float | None]
    reasons: dict[str, str] = field(default_factory=dict)
    measurements: dict[str, Value] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "scores": self.scores,
            "reasons": self.reasons,
            "measurements": self.measurements,
        }


@dataclass(frozen=True)
class Segment(Span):
    start: float = 0.0
    end: float = 0.0

    @property
    def label(self) -> str:
        return segment_label(self.start, self.end)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "start_seconds": round(self.start, 3),
            "end_seconds": round(self.end, 3),
            **super().as_json(),
        }


@dataclass(frozen=True)
class AnalysisResult:
    analyzer: str
    analyzer_version: str
    duration_seconds: float
    overall: Span
    segments: list[Segment]
    definitions: list[Definition]
    segment_seconds: float = SEGMENT_SECONDS


class AnalysisError(Exception):
    """The analysis could not be done; `message` is shown to the recording's owner."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def segment_bounds(duration: float, length: float = SEGMENT_SECONDS) -> list[tuple[float, float]]:
    """[0, 3), [3, 6), ... up to `duration`; a last piece shorter than a second joins the one
    before it, so no segment is too short to say anything about."""
    bounds: list[tuple[float, float]] = []
    start = 0.0
    while start < duration - 1e-9:
        end = min(duration, start + length)
        if bounds and end - start < 1.0:
            bounds[-1] = (bounds[-1][0], end)
        else:
            bounds.append((start, end))
        start = end
    return bounds
