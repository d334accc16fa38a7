"""Reading what Locust wrote (`<prefix>_stats.csv`, `_failures.csv`, `_stats_history.csv`)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

AGGREGATED = "Aggregated"


def _float(value: str | None) -> float | None:
    if value in (None, "", "N/A"):
        return None
    return float(value)


@dataclass(frozen=True)
class ClassStats:
    method: str
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Failure:
    method: str
    name: str
    error: str
    occurrences: int

    @property
    def is_shed(self) -> bool:
        """The locustfile labels 429/503 answers 'shed:<status>' (load shedding, not a fault)."""
        return "shed:" in self.error

    @property
    def is_timeout(self) -> bool:
        lowered = self.error.lower()
        return "timeout" in lowered or "timed out" in lowered


@dataclass(frozen=True)
class RunStats:
    classes: list[ClassStats]
    total: ClassStats
    failures: list[Failure]

    @property
    def shed(self) -> int:
        return sum(f.occurrences for f in self.failures if f.is_shed)

    @property
    def timeouts(self) -> int:
        return sum(f.occurrences for f in self.failures if f.is_timeout)


@dataclass(frozen=True)
class HistoryPoint:
    timestamp: int
    users: int
    name: str
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def _row_to_stats(row: dict[str, str]) -> ClassStats:
    return ClassStats(
        method=row.get("Type", ""),
        name=row["Name"],
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        rps=float(row["Requests/s"]),
        p50_ms=_float(row.get("50%")),
        p95_ms=_float(row.get("95%")),
        p99_ms=_float(row.get("99%")),
        max_ms=_float(row.get("Max Response Time")),
    )


def read_run(prefix: Path) -> RunStats:
    """prefix is what was given to `locust --csv` (e.g. results/<ts>/locust)."""
    with Path(f"{prefix}_stats.csv").open(newline="") as fh:
        rows = [_row_to_stats(r) for r in csv.DictReader(fh)]
    totals = [r for r in rows if r.name == AGGREGATED]
    if not totals:
        raise ValueError(f"{prefix}_stats.csv has no '{AGGREGATED}' row: not a Locust stats file")
    failures: list[Failure] = []
    failures_path = Path(f"{prefix}_failures.csv")
    if failures_path.exists():
        with failures_path.open(newline="") as fh:
            failures = [
                Failure(r["Method"], r["Name"], r["Error"], int(r["Occurrences"]))
                for r in csv.DictReader(fh)
            ]
    return RunStats([r for r in rows if r.name != AGGREGATED], totals[0], failures)


def read_history(prefix: Path) -> list[HistoryPoint]:
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [
            HistoryPoint(
                timestamp=int(r["Timestamp"]),
                users=int(r["User Count"]),
                name=r["Name"],
                rps=float(r["Requests/s"]),
                p50_ms=_float(r.get("50%")),
                p95_ms=_float(r.get("95%")),
                p99_ms=_float(r.get("99%")),
            )
            for r in csv.DictReader(fh)
        ]
