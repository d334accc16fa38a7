"""The tutor's hooks wired to the service metrics (service/observability/metrics.py)."""

from __future__ import annotations

from service.observability import metrics
from service.tutor.loop import TutorHooks


def _tool(tool: str, outcome: str) -> None:
    metrics.TUTOR_TOOL_CALLS.labels(tool=tool, outcome=outcome).inc()


def _rounds(rounds: int) -> None:
    metrics.TUTOR_TOOL_ROUNDS.observe(rounds)


def _provider_error(provider: str, reason: str) -> None:
    metrics.TUTOR_PROVIDER_ERRORS.labels(provider=provider, reason=reason).inc()


def metric_hooks() -> TutorHooks:
    return TutorHooks(on_tool=_tool, on_rounds=_rounds, on_provider_error=_provider_error)
