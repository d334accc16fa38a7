"""Every metric a panel or rule reads is really exported: a dead panel fails the build.

Names are sorted by where they come from (dashboards/metric_sources.yaml): Prometheus itself,
the Cloudflare exporter, recording rules (names with a colon) and, for everything else, the
service. The service's names are checked against a live /api/metrics scrape after driving
requests through the metrics middleware.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import AsyncConnectionPool

from service.observability.install import install_observability, sampling
from tests.observability.promql import (
    metric_names,
    metric_sources,
    recording_rules,
    shipped_expressions,
)

TOKEN = "scrape-token"


def _app(database_url: str) -> FastAPI:
    """The observability wiring on a minimal app; the full service app replaces it later."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
            await pool.wait()
            app.state.pool = pool
            async with sampling(pool, interval_seconds=0.05):
                yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/projects/{project_id}")
    def project(project_id: int) -> dict[str, int]:
        return {"id": project_id}

    install_observability(
        app,
        version="test",
        environment="test",
        metrics_token=TOKEN,
        llm_providers=("openai",),
        embedding_providers=("local",),
    )
    return app


@pytest.fixture(scope="module")
def exported_names(sampled_db: str) -> Iterator[set[str]]:
    with TestClient(_app(sampled_db)) as client:
        for pid in (1, 2, 3):
            assert client.get(f"/api/projects/{pid}").status_code == 200
        assert client.get("/api/metrics").status_code == 401
        deadline = time.monotonic() + 10
        while True:
            resp = client.get("/api/metrics", headers={"authorization": f"Bearer {TOKEN}"})
            assert resp.status_code == 200
            if 'db_index_size_bytes{index="chunks_embedding_hnsw"' in resp.text:
                break  # the sampler has run at least once
            assert time.monotonic() < deadline, "samplers never ran"
            time.sleep(0.05)
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


def test_issue_metric_names_are_exported(exported_names: set[str]) -> None:
    """The names issue 8 asks for, spelled exactly."""
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
