"""One source for the shared numbers: the load-test gate, the alert rules and the dashboards agree.

loadtest/thresholds.toml (read by `load_objectives`) is the source. The gate reads it directly and
the dashboard generator draws from it; the alert rules spell each number in PromQL, so these
tests read every rule and every generated panel back and fail on any difference.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from dashboards import generate
from loadtest.thresholds import PROFILES, Objectives, load_objectives, load_thresholds
from service.observability import metrics
from tests.observability.promql import alert_rules, dashboard_panels, dashboards, recording_rules

SHARED = load_objectives()
ALERTS = SHARED.alerts


def _expr(name: str) -> str:
    rule = next(
        r for r in [*alert_rules(), *recording_rules()] if name in (r.get("alert"), r.get("record"))
    )
    return str(rule["expr"])


def _numbers(expr: str, series: str, op: str) -> list[tuple[float, ...]]:
    """What `series <op> ...` compares with: `> 0.01` gives (0.01,), `> (14.4 * 0.05)` (14.4, 0.05)."""
    found = re.findall(
        re.escape(series) + r"[\w:]*\s*" + re.escape(op) + r"\s*\(?([0-9.]+)(?:\s*\*\s*([0-9.]+))?",
        expr,
    )
    assert found, f"{series} {op} ... not in {expr}"
    return [tuple(float(n) for n in numbers if n) for numbers in found]


# alert -> (series it compares, operator, the shared number(s) it must use)
ALERT_THRESHOLDS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "ApiHighErrorRate": ("job:http_requests:5xx_ratio_5m", ">", (SHARED.error_ratio_max,)),
    "ApiHighLatency": (
        "job:http_request_duration_seconds:p95_5m",
        ">",
        (ALERTS.api_p95_page_seconds,),
    ),
    "RagLatencyBudgetBurnFast": (
        "job:rag_query_slow:ratio_rate",
        ">",
        (ALERTS.rag_fast_burn, ALERTS.rag_slo_error_budget),
    ),
    "RagLatencyBudgetBurnSlow": (
        "job:rag_query_slow:ratio_rate",
        ">",
        (ALERTS.rag_slow_burn, ALERTS.rag_slo_error_budget),
    ),
    "LlmProviderErrors": (
        "job_provider:llm_requests:error_ratio_5m",
        ">",
        (ALERTS.llm_error_ratio_max,),
    ),
    "LlmFallbackRateHigh": ("job:llm_fallbacks:ratio_5m", ">", (ALERTS.llm_fallback_ratio_max,)),
    "TutorToolErrors": (
        "job:tutor_tool_calls:error_ratio_5m",
        ">",
        (ALERTS.tutor_tool_error_ratio_max,),
    ),
    "IngestionQueueStuck": (
        "(ingestion_oldest_job_age_seconds)",
        ">",
        (ALERTS.ingestion_oldest_job_max_seconds,),
    ),
    "IngestionJobsFailing": (
        "job:ingestion_jobs:failure_ratio_15m",
        ">",
        (ALERTS.ingestion_failure_ratio_max,),
    ),
    "CacheHitRateCollapsed": (
        "job_layer:cache_requests:hit_ratio_5m",
        "<",
        (ALERTS.cache_hit_ratio_min,),
    ),
    "SearchRecallLow": ("job_leg:search_recall:ratio_6h", "<", (ALERTS.search_recall_min,)),
}


@pytest.mark.parametrize("alert", sorted(ALERT_THRESHOLDS))
def test_alert_rules_use_the_shared_thresholds(alert: str) -> None:
    series, op, expected = ALERT_THRESHOLDS[alert]
    found = _numbers(_expr(alert), series, op)
    assert found == [expected] * len(found), f"{alert} disagrees with loadtest/thresholds.toml"


def test_every_alert_with_a_numeric_threshold_is_checked() -> None:
    """A new alert that compares with a number must take it from the thresholds file too."""
    compared = {
        r["alert"] for r in alert_rules() if re.search(r"[<>]\s*\(?[0-9.]+", str(r["expr"]))
    }
    assert compared == set(ALERT_THRESHOLDS)


def test_the_rag_slo_counts_queries_slower_than_the_rag_target() -> None:
    for window in ("5m", "30m", "1h", "6h"):
        expr = _expr(f"job:rag_query_slow:ratio_rate{window}")
        assert re.findall(r'le="([0-9.]+)"', expr) == [str(SHARED.rag_p95_seconds)], window
    # A P95 target leaves 5 % of queries as the error budget.
    assert pytest.approx(1 - 0.95) == ALERTS.rag_slo_error_budget


def test_targets_sit_on_bucket_edges() -> None:
    """histogram_quantile and le-based SLIs are only exact at a bucket edge."""
    assert SHARED.rag_p95_seconds in metrics.RAG_BUCKETS
    assert SHARED.api_p95_seconds in metrics.HTTP_BUCKETS
    assert ALERTS.api_p95_page_seconds in metrics.HTTP_BUCKETS


@pytest.mark.parametrize("profile", PROFILES)
def test_the_gate_uses_the_shared_numbers(profile: str) -> None:
    gate = load_thresholds(profile=profile)
    assert gate.error_ratio_max == SHARED.error_ratio_max
    for name, seconds in (
        ("api:projects:list", SHARED.api_p95_seconds),
        ("rag:query", SHARED.rag_p95_seconds),
    ):
        target = gate.target_for(name)
        assert target is not None and target.p95_ms / 1000 == seconds


def _red_lines(models: dict[str, dict]) -> dict[tuple[str, str], float]:
    """(dashboard, panel title) -> the value its red threshold step starts at."""
    out = {}
    for name, model in models.items():
        for panel in dashboard_panels(model):
            steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {})
            for step in steps.get("steps", []):
                if step["color"] == "red":
                    out[(name.removesuffix(".json"), panel["title"])] = float(step["value"])
    return out


def _dashboard_lines(shared: Objectives) -> dict[tuple[str, str], float]:
    """(dashboard, panel title) -> the number its red line must show."""
    alerts = shared.alerts
    slo_panel = f"SLO: share of queries slower than {round(shared.rag_p95_seconds * 1000)} ms"
    panels_by_number: list[tuple[float, str, list[str]]] = [
        (shared.error_ratio_max, "piano-api", ["5xx ratio (5m)", "5xx ratio"]),
        (shared.error_ratio_max, "piano-rag", ["Error ratio"]),
        (shared.api_p95_seconds, "piano-api", ["API P95 (5m)", "Latency P50 / P95 / P99"]),
        (shared.api_p95_seconds, "piano-api", ["P95 by route"]),
        (
            shared.rag_p95_seconds,
            "piano-rag",
            ["RAG query latency P50 / P95 / P99", "P95 by stage"],
        ),
        (alerts.rag_slo_error_budget, "piano-rag", [slo_panel]),
        (alerts.llm_error_ratio_max, "piano-rag", ["LLM error ratio by provider"]),
        (alerts.search_recall_min, "piano-rag", ["Live recall@10 against exact search"]),
        (alerts.tutor_tool_error_ratio_max, "piano-rag", ["Tutor tool error ratio"]),
        (alerts.ingestion_oldest_job_max_seconds, "piano-ingestion", ["Oldest waiting job"]),
        (alerts.ingestion_failure_ratio_max, "piano-ingestion", ["Failure ratio (15m)"]),
        # Dashboard-only highlights, no alert behind them.
        (generate.POOL_USE_HIGH, "piano-db", ["Pool use"]),
        (generate.WAITING_CLIENTS_HIGH, "piano-db", ["Clients waiting for a connection"]),
        (generate.SLOW_QUERIES_HIGH, "piano-db", ["Slow queries running"]),
    ]
    return {
        (dashboard, title): number
        for number, dashboard, titles in panels_by_number
        for title in titles
    }


def test_dashboards_draw_the_shared_thresholds() -> None:
    """Every red line of every committed dashboard is a named number from the one source."""
    assert _red_lines(dashboards()) == _dashboard_lines(SHARED)


def test_a_changed_threshold_redraws_the_dashboards(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator really reads the shared numbers: new ones move every red line."""
    alerts = dataclasses.replace(
        ALERTS, llm_error_ratio_max=0.3, ingestion_oldest_job_max_seconds=60
    )
    changed = Objectives(0.1, 0.5, 0.02, alerts)
    monkeypatch.setattr(generate, "SHARED", changed)
    monkeypatch.setattr(generate, "ALERTS", alerts)
    rendered = {name: json.loads(text) for name, text in generate.render().items()}
    assert _red_lines(rendered) == _dashboard_lines(changed)
