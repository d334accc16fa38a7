"""Numbers that the alert rules share with the load-test gate and the metric buckets agree."""

from __future__ import annotations

import re
import tomllib

import pytest

from service.observability import metrics
from tests.observability.promql import REPO_ROOT, alert_rules

GATE = REPO_ROOT / "loadtest" / "thresholds.toml"


def _alert(name: str) -> dict:
    return next(r for r in alert_rules() if r["alert"] == name)


def _threshold(expr: str, series: str) -> float:
    match = re.search(re.escape(series) + r"\s*>\s*([0-9.]+)", expr)
    assert match, expr
    return float(match.group(1))


def test_slo_thresholds_sit_on_bucket_edges() -> None:
    """histogram_quantile and le-based SLIs are only exact at a bucket edge."""
    rag_slo = _alert("RagLatencyBudgetBurnFast")["expr"]
    assert "ratio_rate1h > (14.4 * 0.05)" in rag_slo
    assert 0.2 in metrics.RAG_BUCKETS
    api = _threshold(_alert("ApiHighLatency")["expr"], "job:http_request_duration_seconds:p95_5m")
    assert api in metrics.HTTP_BUCKETS
    assert 0.05 in metrics.HTTP_BUCKETS  # the API's P95 target


def test_load_test_gate_agrees_with_alerts() -> None:
    if not GATE.exists():
        pytest.skip("loadtest/thresholds.toml is not on this branch yet")
    gate = tomllib.loads(GATE.read_text())
    error_threshold = _threshold(
        _alert("ApiHighErrorRate")["expr"], "job:http_requests:5xx_ratio_5m"
    )
    assert gate["gate"]["error_ratio_max"] == error_threshold
    assert gate["classes"]["rag:*"]["p95_ms"] / 1000 == 0.2
    assert gate["classes"]["api:*"]["p95_ms"] / 1000 in metrics.HTTP_BUCKETS
