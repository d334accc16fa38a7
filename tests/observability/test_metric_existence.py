"""Every metric a panel or rule reads is really exported: a dead panel fails the build.

Names are sorted by where they come from (dashboards/metric_sources.yaml): Prometheus itself,
the Cloudflare exporter, recording rules (names with a colon) and, for everything else, the
service. The service's names are checked against a live /api/metrics scrape of the real app
after driving real requests (auth, projects, a RAG question) through it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from tests.conftest import ApiSettings, LiveServer
from tests.factories import Accounts
from tests.observability.promql import (
    metric_names,
    metric_sources,
    recording_rules,
    shipped_expressions,
)

TOKEN = "scrape-token"


@pytest.fixture(scope="module")
def exported_names(db_url: str, api_settings: ApiSettings) -> Iterator[set[str]]:
    """The real app over real HTTP: auth, a project, a RAG question, then a scrape."""
    settings = api_settings(metrics_token=TOKEN, metrics_sample_seconds=0.05)
    with (
        LiveServer(create_app(settings)) as srv,
        httpx.Client(base_url=srv.url, timeout=120) as http,
    ):
        accounts = Accounts(http, db_url)
        teacher = accounts.create("teacher")
        assert http.get("/api/auth/me", headers=teacher.headers).status_code == 200
        assert http.get("/api/projects", headers=teacher.headers).status_code == 200
        r = http.post(
            "/api/chat/query",
            json={"query": "How should I practise scales?", "stream": False},
            headers=teacher.headers,
        )
        assert r.status_code == 200, r.text
        assert http.get("/api/metrics").status_code == 401
        deadline = time.monotonic() + 20
        while True:
            resp = http.get("/api/metrics", headers={"authorization": f"Bearer {TOKEN}"})
            assert resp.status_code == 200
            if "db_index_size_bytes{" in resp.text and "ingestion_queue_depth" in resp.text:
                break  # the samplers have run at least once
            assert time.monotonic() < deadline, "samplers never ran"
            time.sleep(0.1)
        yield {
            sample.name
            for family in text_string_to_metric_families(resp.text)
            for sample in family.samples
        }


def _dead_references(exprs: dict[str, str], exported: set[str]) -> list[str]:
    sources = metric_sources()
    external = set().union(*sources.values())
    recorded = {rule["record"] for rule in recording_rules()}
    dead = []
    for where, expr in exprs.items():
        for name in sorted(metric_names(expr)):
            if ":" in name:
                ok = name in recorded
            elif name in external:
                ok = True
            else:
                ok = name in exported
            if not ok:
                dead.append(f"{where}: {name}")
    return dead


def test_every_panel_and_rule_reads_an_exported_metric(exported_names: set[str]) -> None:
    exprs = shipped_expressions()
    assert len(exprs) > 50
    assert _dead_references(exprs, exported_names) == []


def test_a_dead_panel_is_reported(exported_names: set[str]) -> None:
    exprs = {
        "typo": "sum(rate(http_request_total[$__rate_interval]))",
        "unknown recording": "job:nothing:ratio_5m > 1",
        "fine": 'sum by (route) (rate(http_requests_total{status=~"5.."}[5m]))',
    }
    assert _dead_references(exprs, exported_names) == [
        "typo: http_request_total",
        "unknown recording: job:nothing:ratio_5m",
    ]


def test_external_sources_do_not_shadow_service_metrics(exported_names: set[str]) -> None:
    """A name claimed by an exporter but served by the API would escape the live check."""
    for source, names in metric_sources().items():
        assert not names & exported_names, source


def test_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket"
        '{route!="/api/metrics",le="0.2"}[$__rate_interval]))) > on (job) group_left '
        'job:http_requests:rate5m offset 5m and up{job="x"} == bool 1e3 or vector(0)'
    )
    assert metric_names(expr) == {
        "http_request_duration_seconds_bucket",
        "job:http_requests:rate5m",
        "up",
    }


def test_specified_metric_names_are_exported(exported_names: set[str]) -> None:
    """The names the dashboards, alerts and runbooks are written against, spelled exactly."""
    required = {
        "http_request_duration_seconds_bucket",
        "http_requests_total",
        "rag_query_duration_seconds_bucket",
        "rag_queries_total",
        "rag_answer_confidence_total",
        "cache_requests_total",
        "vector_search_duration_seconds_bucket",
        "fts_search_duration_seconds_bucket",
        "llm_requests_total",
        "llm_fallbacks_total",
        "embedding_requests_total",
        "embedding_batch_duration_seconds_bucket",
        "ingestion_jobs_total",
        "ingestion_queue_depth",
        "ingestion_oldest_job_age_seconds",
        "ingestion_chunks_total",
        "db_pool_connections",
        "build_info",
    }
    assert required <= exported_names, required - exported_names
