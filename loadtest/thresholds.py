"""The gate's targets, read from one TOML file that the alert rules and the dashboards share."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_THRESHOLDS = Path(__file__).resolve().parent / "thresholds.toml"
# Load profiles; a thresholds file may override [gate] per profile in [profiles.<name>].
PROFILES = ("spec", "smoke", "stress", "capacity")


@dataclass(frozen=True)
class ClassTarget:
    pattern: str
    p95_ms: float
    p99_ms: float
    # Measured and shown, never a breach (e.g. the capacity steps, which go past the target on
    # purpose).
    report_only: bool = False


@dataclass(frozen=True)
class Thresholds:
    profile: str
    error_ratio_max: float
    min_rps: float
    min_requests: int
    classes: list[ClassTarget]
    shed_is_graceful: bool = False
    # Classes (fnmatch pattern) that must shed nothing, even where shedding elsewhere is fine.
    never_shed: str | None = None
    max_timeouts: int | None = None
    gate_latency: bool = True
    # Below these sample counts a percentile is just "the max of a handful": reported, not gated.
    min_samples_p95: int = 20
    min_samples_p99: int = 100
    llm_provider_p95_ms: float | None = None
    llm_provider_p99_ms: float | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def target_for(self, name: str) -> ClassTarget | None:
        """Exact name first, then the longest matching fnmatch pattern."""
        for target in self.classes:
            if target.pattern == name:
                return target
        matches = [t for t in self.classes if fnmatch.fnmatchcase(name, t.pattern)]
        return max(matches, key=lambda t: len(t.pattern)) if matches else None


class ThresholdsError(ValueError):
    """The thresholds file is malformed; the gate refuses to guess."""


def _number(table: dict[str, Any], key: str, where: str) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ThresholdsError(f"{where}: '{key}' must be a number")
    return float(value)


def load_thresholds(path: Path = DEFAULT_THRESHOLDS, profile: str = "spec") -> Thresholds:
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    gate = dict(data.get("gate", {}))
    profiles = data.get("profiles", {})
    if profile not in PROFILES:
        raise ThresholdsError(f"unknown profile '{profile}' (known: {', '.join(PROFILES)})")
    overrides = dict(profiles.get(profile, {}))
    # A profile may also set its own targets for some classes: [profiles.<name>.classes."..."].
    class_tables = {**data.get("classes", {}), **overrides.pop("classes", {})}
    gate.update(overrides)

    classes = []
    for pattern, table in class_tables.items():
        where = f'[classes."{pattern}"]'
        classes.append(
            ClassTarget(
                pattern,
                _number(table, "p95_ms", where),
                _number(table, "p99_ms", where),
                bool(table.get("report_only", False)),
            )
        )
    if not classes:
        raise ThresholdsError("no [classes.*] tables: every request class needs a target")

    budget = data.get("llm_budget", {})
    max_timeouts = gate.get("max_timeouts")
    return Thresholds(
        profile=profile,
        error_ratio_max=_number(gate, "error_ratio_max", "[gate]"),
        min_rps=_number(gate, "min_rps", "[gate]"),
        min_requests=int(_number(gate, "min_requests", "[gate]")),
        classes=classes,
        shed_is_graceful=bool(gate.get("shed_is_graceful", False)),
        never_shed=str(gate["never_shed"]) if gate.get("never_shed") else None,
        max_timeouts=None if max_timeouts is None else int(max_timeouts),
        gate_latency=bool(gate.get("gate_latency", True)),
        min_samples_p95=int(gate.get("min_samples_p95", 20)),
        min_samples_p99=int(gate.get("min_samples_p99", 100)),
        llm_provider_p95_ms=budget.get("provider_p95_ms"),
        llm_provider_p99_ms=budget.get("provider_p99_ms"),
        source=str(path),
    )


@dataclass(frozen=True)
class AlertThresholds:
    """[alerts]: thresholds of the alert rules that are not load-test targets."""

    api_p95_page_seconds: float
    rag_slo_error_budget: float
    rag_fast_burn: float
    rag_slow_burn: float
    llm_error_ratio_max: float
    llm_fallback_ratio_max: float
    tutor_tool_error_ratio_max: float
    ingestion_oldest_job_max_seconds: float
    ingestion_failure_ratio_max: float
    cache_hit_ratio_min: float
    search_recall_min: float


@dataclass(frozen=True)
class Objectives:
    """The numbers the gate, the alert rules and the dashboards share, in seconds and ratios."""

    api_p95_seconds: float
    rag_p95_seconds: float
    error_ratio_max: float
    alerts: AlertThresholds


def load_objectives(path: Path = DEFAULT_THRESHOLDS) -> Objectives:
    gate = load_thresholds(path)
    api, rag = gate.target_for("api:*"), gate.target_for("rag:*")
    if api is None or rag is None:
        raise ThresholdsError('the "api:*" and "rag:*" classes carry the shared P95 targets')
    with path.open("rb") as fh:
        table = tomllib.load(fh).get("alerts", {})
    names = {f.name for f in fields(AlertThresholds)}
    if unknown := sorted(set(table) - names):
        raise ThresholdsError(f"[alerts]: unknown {', '.join(unknown)}")
    alerts = AlertThresholds(**{name: _number(table, name, "[alerts]") for name in names})
    return Objectives(api.p95_ms / 1000, rag.p95_ms / 1000, gate.error_ratio_max, alerts)
