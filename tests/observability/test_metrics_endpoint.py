"""The metrics middleware and endpoint, driven over real HTTP-shaped ASGI calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.api.metrics import build_metrics_router
from service.core.http_metrics import HttpMetricsMiddleware
from service.observability import metrics


def _app(token: str | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/api/projects/{project_id}")
    def project(project_id: int) -> dict[str, int]:
        if project_id == 0:
            raise HTTPException(status_code=404, detail="no such project")
        return {"id": project_id}

    @app.get("/api/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/api/stream")
    def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(events(), media_type="text/event-stream")

    app.include_router(build_metrics_router(token=token))
    app.add_middleware(HttpMetricsMiddleware)
    return app


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(_app(token=""), raise_server_exceptions=False) as c:
        yield c


def test_requests_are_counted_by_route_template(client: TestClient) -> None:
    before = _samples(client.get("/api/metrics").text)
    for pid in (1, 2, 3):
        assert client.get(f"/api/projects/{pid}").status_code == 200
    assert client.get("/api/projects/0").status_code == 404
    assert client.get("/nowhere/at/all").status_code == 404
    assert client.get("/api/boom").status_code == 500
    after = _samples(client.get("/api/metrics").text)

    def delta(**labels: str) -> float:
        return _value(after, "http_requests_total", **labels) - _value(
            before, "http_requests_total", **labels
        )

    tmpl = "/api/projects/{project_id}"
    assert delta(route=tmpl, method="GET", status="200") == 3
    assert delta(route=tmpl, method="GET", status="404") == 1
    assert delta(route="unmatched", method="GET", status="404") == 1
    assert delta(route="/api/boom", method="GET", status="500") == 1
    # No raw path ever becomes a label value.
    assert not [k for k in after if ("route", "/api/projects/1") in k[1]]
    bucket = _value(
        after,
        "http_request_duration_seconds_bucket",
        route=tmpl,
        method="GET",
        status="200",
        le="0.05",
    )
    assert bucket >= 3


def test_streaming_response_passes_through(client: TestClient) -> None:
    with client.stream("GET", "/api/stream") as resp:
        body = b"".join(resp.iter_bytes())
    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    text = client.get("/api/metrics").text
    assert 'http_requests_total{method="GET",route="/api/stream",status="200"}' in text


def test_buckets_resolve_the_targets() -> None:
    assert 0.05 in metrics.HTTP_BUCKETS
    assert 1.0 in metrics.HTTP_BUCKETS
    assert 0.2 in metrics.RAG_BUCKETS


def test_token_is_required_when_configured() -> None:
    with TestClient(_app(token="s3cret")) as c:
        resp = c.get("/api/metrics", headers={"x-request-id": "req-1"})
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        err = resp.json()["error"]
        assert err["code"] == "metrics_unauthorized"
        assert err["request_id"] == "req-1"
        assert err["message"]
        assert c.get("/api/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
        assert c.get("/api/metrics", headers={"authorization": "Basic s3cret"}).status_code == 401
        ok = c.get("/api/metrics", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain")


def test_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN", "from-env")
    with TestClient(_app(token=None)) as c:
        assert c.get("/api/metrics").status_code == 401
        resp = c.get("/api/metrics", headers={"authorization": "Bearer from-env"})
        assert resp.status_code == 200
