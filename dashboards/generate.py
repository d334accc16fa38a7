"""Generate the Grafana dashboards from code (grafana-foundation-sdk, built for Grafana 11.6).

    python -m dashboards.generate          # rewrite dashboards/grafana/*.json
    python -m dashboards.generate --check  # exit 1 if the committed JSON is stale

The SDK release is pinned in pyproject.toml (``1769699379!11.6.0``) to match the Grafana we run;
its version string names the Grafana schema it targets. Every dashboard has a fixed uid (alert
``dashboard`` annotations link to it), a ``$datasource`` variable and uses ``$__rate_interval``.

Targets and alert thresholds drawn as red lines come from loadtest/thresholds.toml, the file the
load-test gate reads and the alert rules are tested against (``load_objectives``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import piechart, prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import piechart as piechart_m
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
)

from loadtest.thresholds import load_objectives

OUT_DIR = Path(__file__).resolve().parent / "grafana"
GRAFANA_VERSION = "11.6"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
API = 'job="piano-api"'
NOT_METRICS = 'route!="/api/metrics"'

Query = tuple[str, str]  # (PromQL, legend)

SHARED = load_objectives()
ALERTS = SHARED.alerts
# Dashboard-only highlights (no alert fires on them).
POOL_USE_HIGH = 0.8
WAITING_CLIENTS_HIGH = 1
SLOW_QUERIES_HIGH = 1


def pct(ratio: float) -> str:
    return f"{round(ratio * 100, 2):g} %"


def ms(seconds: float) -> str:
    return f"{round(seconds * 1000, 3):g} ms"


# --- panel helpers ----------------------------------------------------------------------------
def _targets(queries: list[Query]) -> list[prometheus.Dataquery]:
    return [
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(chr(ord("A") + i))
        .datasource(DATASOURCE)
        for i, (expr, legend) in enumerate(queries)
    ]


def _thresholds(limit: float | None) -> dash.ThresholdsConfig:
    steps = [Threshold(value=None, color="green")]
    if limit is not None:
        steps.append(Threshold(value=limit, color="red"))
    return dash.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def graph(
    title: str,
    queries: list[Query],
    *,
    unit: str = "short",
    description: str = "",
    limit: float | None = None,
    stacked: bool = False,
    width: int = 12,
) -> timeseries.Panel:
    """A time series; ``limit`` draws the target as a red threshold line."""
    return _timeseries(
        title, _targets(queries), DATASOURCE, unit, description, limit, stacked, width
    )


def _timeseries(
    title: str,
    targets: Sequence[cogbuilder.Builder[cogvariants.Dataquery]],
    source: DataSourceRef,
    unit: str,
    description: str,
    limit: float | None,
    stacked: bool,
    width: int,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(source)
        .targets(list(targets))
        .unit(unit)
        .height(8)
        .span(width)
        .line_width(1)
        .fill_opacity(10 if not stacked else 60)
        .thresholds(_thresholds(limit))
        .legend(
            common_b.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(common_b.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI))
    )
    if limit is not None:
        panel = panel.thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    if stacked:
        panel = panel.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def single(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    description: str = "",
    limit: float | None = None,
    width: int = 6,
) -> stat.Panel:
    """A single current value, red from ``limit`` on."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets([(expr, "")]))  # type: ignore[arg-type]
        .unit(unit)
        .height(4)
        .span(width)
        .thresholds(_thresholds(limit))
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
    )


def pie(
    title: str, queries: list[Query], *, description: str = "", width: int = 6
) -> piechart.Panel:
    return (
        piechart.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))  # type: ignore[arg-type]
        .height(8)
        .span(width)
        .pie_type(piechart_m.PieChartType.DONUT)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )


def _aggregate(fn: str, metric: str, selector: str, window: str, by: str) -> str:
    """``sum [by (...)] (fn(metric{selector}[window]))``."""
    grouping = f" by ({by}) " if by else ""
    matchers = f"{{{selector}}}" if selector else ""
    return f"sum{grouping}({fn}({metric}{matchers}[{window}]))"


def rate(metric: str, selector: str = API, by: str = "") -> str:
    """Per-second rate over the dashboard's rate interval, summed [by labels]."""
    return _aggregate("rate", metric, selector, "$__rate_interval", by)


def increase(metric: str, window: str, selector: str = API, by: str = "") -> str:
    """Count added over ``window`` (``$__range`` = the selected time range), summed [by labels]."""
    return _aggregate("increase", metric, selector, window, by)


def ratio(metric: str, match: str, selector: str = API, by: str = "") -> str:
    """The share of ``metric``'s rate whose series also match ``match``."""
    matching = f"{selector},{match}" if selector else match
    return f"{rate(metric, matching, by)} / {rate(metric, selector, by)}"


def quantile(q: float, metric: str, selector: str = API, by: str = "") -> str:
    """The ``q`` quantile of a histogram over the rate interval [per ``by`` label]."""
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, {rate(f'{metric}_bucket', selector, group)})"


def p95(metric: str, selector: str = API, by: str = "") -> str:
    return quantile(0.95, metric, selector, by)


def per(by: str, expr: Callable[..., str], *args: str) -> list[Query]:
    """``expr(*args, by=by)``: one series per value of the ``by`` labels, named by them."""
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return [(expr(*args, by=by), legend)]


def quantiles(metric: str, selector: str, by: str = "") -> list[Query]:
    """P50/P95/P99 of a histogram, one series each."""
    return [
        (quantile(q, metric, selector, by), f"p{round(q * 100)}" + (f" {{{{{by}}}}}" if by else ""))
        for q in (0.5, 0.95, 0.99)
    ]


def base(
    uid: str, title: str, description: str, tags: list[str], source_type: str = "prometheus"
) -> dash.Dashboard:
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["piano-platform", *tags])
        .editable()
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(dash.DatasourceVariable("datasource").label("Data source").type(source_type))
    )


# --- dashboards -------------------------------------------------------------------------------
def api_overview() -> dash.Dashboard:
    sel = f"{API},{NOT_METRICS}"
    return (
        base(
            "piano-api",
            "API overview",
            "FastAPI service on the MIG: traffic, errors, latency by route, instances, build.",
            ["api"],
        )
        .with_row(dash.Row("Health"))
        .with_panel(single("Instances up", f"sum(up{{{API}}})", description="Scraped targets."))
        .with_panel(
            single(
                "5xx ratio (5m)",
                "sum(job:http_requests:5xx_ratio_5m)",
                unit="percentunit",
                limit=SHARED.error_ratio_max,
                description=f"Alert ApiHighErrorRate fires above {pct(SHARED.error_ratio_max)} "
                "for 5 minutes.",
            )
        )
        .with_panel(
            single(
                "API P95 (5m)",
                "max(job:http_request_duration_seconds:p95_5m)",
                unit="s",
                limit=SHARED.api_p95_seconds,
                description=f"Target P95 < {ms(SHARED.api_p95_seconds)}; alert ApiHighLatency at "
                f"{ALERTS.api_p95_page_seconds:g} s.",
            )
        )
        .with_panel(
            single(
                "Running builds",
                f"count by (version) (build_info{{{API}}})",
                description="Instances per build version; two versions mean a rollout is running.",
            )
        )
        .with_row(dash.Row("Traffic and errors"))
        .with_panel(
            graph(
                "Requests per second by route",
                per("route", rate, "http_requests_total", sel),
                unit="reqps",
            )
        )
        .with_panel(
            graph(
                "Responses by status",
                per("status", rate, "http_requests_total", sel),
                unit="reqps",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "5xx ratio",
                [(ratio("http_requests_total", 'status=~"5.."', sel), "5xx")],
                unit="percentunit",
                limit=SHARED.error_ratio_max,
            )
        )
        .with_panel(
            graph(
                "Latency P50 / P95 / P99",
                quantiles("http_request_duration_seconds", sel),
                unit="s",
                limit=SHARED.api_p95_seconds,
                description=f"Red line: the {ms(SHARED.api_p95_seconds)} P95 target "
                "(a histogram bucket edge).",
            )
        )
        .with_panel(
            graph(
                "P95 by route",
                per("route", p95, "http_request_duration_seconds", sel),
                unit="s",
                limit=SHARED.api_p95_seconds,
                width=24,
            )
        )
    )


def rag_performance() -> dash.Dashboard:
    total = f'{API},stage="total"'
    return (
        base(
            "piano-rag",
            "RAG performance",
            f"Question answering: latency per stage against the {ms(SHARED.rag_p95_seconds)} P95 "
            "target, caches, confidence, LLM providers.",
            ["rag"],
        )
        .with_row(dash.Row("Latency"))
        .with_panel(
            graph(
                "RAG query latency P50 / P95 / P99",
                quantiles("rag_query_duration_seconds", total),
                unit="s",
                limit=SHARED.rag_p95_seconds,
                description="Whole query (stage=total). Red line: the "
                f"{ms(SHARED.rag_p95_seconds)} P95 target.",
            )
        )
        .with_panel(
            graph(
                "P95 by stage",
                per("stage", p95, "rag_query_duration_seconds"),
                unit="s",
                limit=SHARED.rag_p95_seconds,
                description="embed, search, rerank, llm_ttft (time to first token) and total.",
            )
        )
        .with_panel(
            graph(
                f"SLO: share of queries slower than {ms(SHARED.rag_p95_seconds)}",
                [
                    ("sum(job:rag_query_slow:ratio_rate5m)", "5m"),
                    ("sum(job:rag_query_slow:ratio_rate1h)", "1h"),
                    ("sum(job:rag_query_slow:ratio_rate6h)", "6h"),
                ],
                unit="percentunit",
                limit=ALERTS.rag_slo_error_budget,
                description=f"Error budget {pct(ALERTS.rag_slo_error_budget)}. Fast-burn alert: "
                f"1h and 5m above {pct(ALERTS.rag_fast_burn * ALERTS.rag_slo_error_budget)}; "
                f"slow-burn: 6h and 30m above "
                f"{pct(ALERTS.rag_slow_burn * ALERTS.rag_slo_error_budget)}.",
            )
        )
        .with_panel(
            graph(
                "Search latency P95",
                [
                    (p95("vector_search_duration_seconds"), "vector"),
                    (p95("fts_search_duration_seconds"), "lexical (BM25)"),
                ],
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Live recall@10 against exact search",
                [("job_leg:search_recall:ratio_6h", "{{leg}}")],
                unit="percentunit",
                limit=ALERTS.search_recall_min,
                description="A sample of searches (SEARCH_LIVE_RECALL_SAMPLE_RATE, 1 %) is run "
                "again exactly off the request path: the share of exact top 10 results each leg "
                f"found, over 6 hours. Alert SearchRecallLow fires below "
                f"{pct(ALERTS.search_recall_min)}.",
                width=24,
            )
        )
        .with_row(dash.Row("Traffic and quality"))
        .with_panel(
            graph(
                "Queries per second by outcome",
                per("outcome", rate, "rag_queries_total"),
                unit="reqps",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Error ratio",
                [(ratio("rag_queries_total", 'outcome="error"'), "errors")],
                unit="percentunit",
                limit=SHARED.error_ratio_max,
            )
        )
        .with_panel(
            graph(
                "Cache hit rate by layer",
                per("layer", ratio, "cache_requests_total", 'result="hit"'),
                unit="percentunit",
                description="Alert CacheHitRateCollapsed fires below "
                f"{pct(ALERTS.cache_hit_ratio_min)} under load.",
            )
        )
        .with_panel(
            pie(
                "Answer confidence mix",
                per("level", increase, "rag_answer_confidence_total", "$__range"),
                description="Answers by confidence level over the selected time range.",
            )
        )
        .with_panel(
            graph(
                "Confidence over time",
                per("level", rate, "rag_answer_confidence_total"),
                unit="reqps",
                stacked=True,
                width=6,
            )
        )
        .with_row(dash.Row("LLM and embeddings"))
        .with_panel(
            graph(
                "LLM requests by provider and outcome",
                per("provider, outcome", rate, "llm_requests_total"),
                unit="reqps",
            )
        )
        .with_panel(
            graph(
                "LLM error ratio by provider",
                per("provider", ratio, "llm_requests_total", 'outcome!="ok"'),
                unit="percentunit",
                limit=ALERTS.llm_error_ratio_max,
            )
        )
        .with_panel(
            graph(
                "LLM fallbacks",
                [
                    (
                        rate("llm_fallbacks_total", by="provider, reason"),
                        "from {{provider}}: {{reason}}",
                    )
                ],
                unit="reqps",
            )
        )
        .with_panel(
            graph(
                "Embedding batches",
                per("provider, outcome", rate, "embedding_requests_total"),
                unit="reqps",
            )
        )
        .with_panel(
            graph(
                "Embedding batch duration P95",
                per("provider", p95, "embedding_batch_duration_seconds"),
                unit="s",
                width=24,
            )
        )
        .with_row(dash.Row("Practice feedback"))
        .with_panel(
            graph(
                "Feedback generation time P95 by mode and outcome",
                per("mode, outcome", p95, "feedback_generation_duration_seconds"),
                unit="s",
                description="Writing one report: the knowledge searches and, in llm mode, the "
                "model's answer. fallback = the model failed and the template was used. Stored "
                "reports returned from storage are not counted.",
            )
        )
        .with_panel(
            graph(
                "Feedback reports written by mode and outcome",
                per("mode, outcome", rate, "feedback_generation_duration_seconds_count"),
                unit="reqps",
                stacked=True,
            )
        )
        .with_row(dash.Row("Practice tutor tools"))
        .with_panel(
            graph(
                "Tutor tool calls by tool and outcome",
                per("tool, outcome", rate, "tutor_tool_calls_total"),
                unit="reqps",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Tutor tool error ratio",
                [(ratio("tutor_tool_calls_total", 'outcome="error"'), "failed in the tool")],
                unit="percentunit",
                limit=ALERTS.tutor_tool_error_ratio_max,
                description="Failures inside a tool. not_found, not_ready and invalid_arguments "
                "are answers the model reads, not errors.",
            )
        )
        .with_panel(
            graph(
                "Tool rounds per answer (P50 / P95)",
                [
                    (quantile(0.5, "tutor_tool_rounds"), "P50"),
                    (quantile(0.95, "tutor_tool_rounds"), "P95"),
                ],
                unit="short",
            )
        )
        .with_panel(
            graph(
                "Tutor model turns failed, by provider",
                per("provider, reason", rate, "tutor_provider_tool_call_errors_total"),
                unit="reqps",
            )
        )
    )


def database() -> dash.Dashboard:
    return (
        base(
            "piano-db",
            "Database",
            "PostgreSQL (Supabase) as the API sees it: pool, query latency, slow queries, index "
            "cache hit rate, HNSW index size. All series come from the API's own sampler "
            "(service/observability/samplers.py), so no separate exporter is needed.",
            ["database"],
        )
        .with_row(dash.Row("Connectivity and pool"))
        .with_panel(
            single(
                "Database reachable",
                f"min(db_up{{{API}}})",
                description="1 = every instance's last probe succeeded. Alert DatabaseUnreachable.",
            )
        )
        .with_panel(
            single(
                "Pool use",
                f'sum(db_pool_connections{{{API},state="in_use"}})'
                f" / sum(db_pool_max_connections{{{API}}})",
                unit="percentunit",
                limit=POOL_USE_HIGH,
            )
        )
        .with_panel(
            single(
                "Clients waiting for a connection",
                f'sum(db_pool_connections{{{API},state="waiting"}})',
                limit=WAITING_CLIENTS_HIGH,
            )
        )
        .with_panel(
            single(
                "Slow queries running",
                f"max(db_slow_queries{{{API}}})",
                limit=SLOW_QUERIES_HIGH,
                description="Statements active for more than 1 s (pg_stat_activity).",
            )
        )
        .with_panel(
            graph(
                "Pool connections by state",
                [(f"sum by (state) (db_pool_connections{{{API}}})", "{{state}}")],
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Query latency P50 / P95 / P99 (vector search)",
                quantiles("vector_search_duration_seconds", API),
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Query latency P50 / P95 / P99 (full-text search)",
                quantiles("fts_search_duration_seconds", API),
                unit="s",
            )
        )
        .with_panel(
            graph(
                "Slow queries running",
                [(f"max(db_slow_queries{{{API}}})", "> 1 s")],
            )
        )
        .with_row(dash.Row("Indexes"))
        .with_panel(
            graph(
                "Index cache hit rate",
                [(f"max(db_index_hit_ratio{{{API}}})", "hit rate")],
                unit="percentunit",
                description="Index blocks served from shared buffers (pg_statio_user_indexes).",
            )
        )
        .with_panel(
            graph(
                "HNSW index size",
                [(f'max by (index) (db_index_size_bytes{{{API},method="hnsw"}})', "{{index}}")],
                unit="bytes",
                description="pgvector HNSW indexes; growth beyond RAM slows vector search.",
            )
        )
        .with_panel(
            graph(
                "All index sizes",
                [
                    (
                        f"max by (index, method) (db_index_size_bytes{{{API}}})",
                        "{{index}} ({{method}})",
                    )
                ],
                unit="bytes",
                width=24,
            )
        )
    )


def ingestion() -> dash.Dashboard:
    return (
        base(
            "piano-ingestion",
            "Ingestion",
            "Knowledge-base ingestion jobs (procrastinate queue): depth, age, throughput and "
            "failures.",
            ["ingestion"],
        )
        .with_panel(single("Queue depth", f"max(ingestion_queue_depth{{{API}}})"))
        .with_panel(
            single(
                "Oldest waiting job",
                f"max(ingestion_oldest_job_age_seconds{{{API}}})",
                unit="s",
                limit=ALERTS.ingestion_oldest_job_max_seconds,
                description="Alert IngestionQueueStuck fires above "
                f"{ALERTS.ingestion_oldest_job_max_seconds / 60:g} minutes.",
            )
        )
        .with_panel(
            single(
                "Failure ratio (15m)",
                "sum(job:ingestion_jobs:failure_ratio_15m)",
                unit="percentunit",
                limit=ALERTS.ingestion_failure_ratio_max,
            )
        )
        .with_panel(
            single(
                "Chunks written (1h)",
                increase("ingestion_chunks_total", "1h"),
            )
        )
        .with_panel(
            graph(
                "Queue depth and oldest job age",
                [
                    (f"max(ingestion_queue_depth{{{API}}})", "depth"),
                    (f"max(ingestion_oldest_job_age_seconds{{{API}}}) / 60", "oldest job (min)"),
                ],
            )
        )
        .with_panel(
            graph(
                "Jobs finished by outcome",
                per("outcome", rate, "ingestion_jobs_total"),
                unit="ops",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Chunks written per second",
                [(rate("ingestion_chunks_total"), "chunks")],
                unit="ops",
            )
        )
        .with_panel(
            graph(
                "Failures",
                [(rate("ingestion_jobs_total", f'{API},outcome="failed"'), "failed jobs/s")],
                unit="ops",
            )
        )
    )


# --- edge: Workers Analytics Engine -----------------------------------------------------------
# The Worker writes one data point per request into the stack's dataset (worker/src/analytics.js,
# worker/README.md "Edge analytics"); Grafana reads it with the Altinity ClickHouse plugin pointed
# at the Analytics Engine SQL API, as Cloudflare documents ("Querying Workers Analytics Engine from
# Grafana"). Columns of the layout the panels read (a test checks them against the Worker's own
# dataPoint()):
EDGE_LAYOUT = {
    "route": "blob1",
    "method": "blob2",
    "source": "blob3",  # origin | edge
    "error_code": "blob4",
    "colo": "blob5",
    "embedding_cache": "blob6",  # hit | miss | error | ""
    "layout": "blob7",
    "status": "double1",
    "duration_ms": "double2",
}
EDGE_LAYOUT_VERSION = "v1"
AE_PLUGIN = "vertamedia-clickhouse-datasource"
AE_DATASOURCE = DataSourceRef(type_val=AE_PLUGIN, uid="${datasource}")
AE_DATASETS = ("piano_edge_prod", "piano_edge_staging", "piano_edge_dev")
# Every aggregate weighs a row by _sample_interval: Analytics Engine samples at high volume.
_HITS = "SUM(_sample_interval)"


def _f(field: str) -> str:
    return EDGE_LAYOUT[field]


class _SqlQuery(cogvariants.Dataquery):
    """A raw-SQL target of the Altinity ClickHouse plugin ($timeSeries/$timeFilter are its
    macros over the `timestamp` column; $interval the group-by interval in seconds)."""

    def __init__(self, ref_id: str, sql: str) -> None:
        self.ref_id, self.sql = ref_id, sql

    def to_json(self) -> dict[str, object]:
        return {
            "refId": self.ref_id,
            "datasource": {"type": AE_PLUGIN, "uid": "${datasource}"},
            "rawQuery": True,
            "query": self.sql,
            "format": "time_series",
            "dateTimeType": "DATETIME",
            "dateTimeColDataType": "timestamp",
            "intervalFactor": 1,
        }


class _SqlTarget(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: _SqlQuery) -> None:
        self.query = query

    def build(self) -> cogvariants.Dataquery:
        return self.query


def edge_sql(select: str, by: str, where: str = "") -> str:
    """Per time bucket and `by` label, over the dashboard's range and the current layout."""
    conditions = " AND ".join(
        ["$timeFilter", f"{_f('layout')} = '{EDGE_LAYOUT_VERSION}'", *([where] if where else [])]
    )
    return (
        f"SELECT $timeSeries AS t, {by} AS label, {select} AS value FROM $dataset "  # noqa: S608 - a dashboard query built from constants
        f"WHERE {conditions} GROUP BY t, label ORDER BY t"
    )


def edge_graph(
    title: str, sql: list[str], *, unit: str, description: str, width: int = 12
) -> timeseries.Panel:
    targets = [_SqlTarget(_SqlQuery(chr(ord("A") + i), q)) for i, q in enumerate(sql)]
    return _timeseries(title, targets, AE_DATASOURCE, unit, description, None, False, width)


def _share(condition: str, among: str = "") -> str:
    """The sampled share of requests matching `condition` among all (or those matching `among`)."""
    whole = f"SUM(_sample_interval * IF({among}, 1, 0))" if among else _HITS
    return f"SUM(_sample_interval * IF({condition}, 1, 0)) / {whole}"


def edge() -> dash.Dashboard:
    src = "Source: Workers Analytics Engine, one data point per request written by the Worker."
    route, status, source = _f("route"), _f("status"), _f("source")
    return (
        base(
            "piano-edge",
            "Edge (Cloudflare)",
            "The Cloudflare Worker in front of the API, from the data points it writes to Workers "
            "Analytics Engine (dataset piano_edge_<stack>), read through the Analytics Engine "
            "SQL API with the Altinity ClickHouse data source.",
            ["edge", "cloudflare"],
            source_type=AE_PLUGIN,
        )
        .with_variable(
            dash.CustomVariable("dataset")
            .label("Dataset (stack)")
            .values(",".join(AE_DATASETS))
            .current(VariableOption(selected=True, text=AE_DATASETS[0], value=AE_DATASETS[0]))
        )
        .with_panel(
            edge_graph(
                "Requests per second by route",
                [edge_sql(f"{_HITS} / $interval", route)],
                unit="reqps",
                description=src,
            )
        )
        .with_panel(
            edge_graph(
                "5xx ratio by who answered (origin or edge)",
                [edge_sql(_share(f"{status} >= 500"), source)],
                unit="percentunit",
                description=src + " origin: the API's own answer passed through.",
            )
        )
        .with_panel(
            edge_graph(
                "Errors answered at the edge, by code (rate_limited, origin_timeout, ...)",
                [edge_sql(f"{_HITS} / $interval", _f("error_code"), f"{_f('error_code')} != ''")],
                unit="reqps",
                description=src,
            )
        )
        .with_panel(
            edge_graph(
                "Chat: embedding cache hit ratio",
                [
                    edge_sql(
                        _share(
                            f"{_f('embedding_cache')} = 'hit'", f"{_f('embedding_cache')} != ''"
                        ),
                        route,
                        f"{route} = 'chat_query'",
                    )
                ],
                unit="percentunit",
                description=src + " miss/error: the question was embedded again.",
            )
        )
        .with_panel(
            edge_graph(
                "Time to response headers at the edge (P50 / P95 / P99)",
                [
                    edge_sql(
                        f"quantileExactWeighted({q})({_f('duration_ms')}, _sample_interval)",
                        f"'p{round(q * 100)}'",
                    )
                    for q in (0.5, 0.95, 0.99)
                ],
                unit="ms",
                description=src + " Mostly origin, KV and R2 time (workerd's clock moves on I/O).",
                width=24,
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "piano-api": api_overview,
    "piano-rag": rag_performance,
    "piano-db": database,
    "piano-ingestion": ingestion,
    "piano-edge": edge,
}


def render() -> dict[str, str]:
    """File name -> JSON text; deterministic so the committed files compare byte for byte."""
    out: dict[str, str] = {}
    for uid, build in DASHBOARDS.items():
        model = build().build()
        for i, panel in enumerate(model.panels or [], start=1):
            panel.id_val = i
        text = json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False)
        out[f"{uid}.json"] = text + "\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if committed JSON is stale")
    args = parser.parse_args(argv)
    rendered = render()
    if args.check:
        stale = [
            name
            for name, text in rendered.items()
            if not (OUT_DIR / name).exists() or (OUT_DIR / name).read_text() != text
        ]
        extra = sorted({p.name for p in OUT_DIR.glob("*.json")} - set(rendered))
        for name in stale + extra:
            print(f"stale: dashboards/grafana/{name}", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (OUT_DIR / name).write_text(text)
    for path in OUT_DIR.glob("*.json"):
        if path.name not in rendered:
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
