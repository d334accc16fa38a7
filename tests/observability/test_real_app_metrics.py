"""The observability wiring on the real app factory, over real HTTP: route templates of real
routes, the token check inside the real middleware stack, and the pool gauges of the real pool."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from tests.conftest import ApiSettings, LiveServer

TOKEN = "real-app-token"


@pytest.fixture(scope="module")
def real_api(api_settings: ApiSettings) -> Iterator[LiveServer]:
    settings = api_settings(metrics_token=TOKEN, build_version="9.9.9")
    with LiveServer(create_app(settings)) as server:
        yield server


def _scrape(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = http.get("/api/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(resp.text)
        for s in fam.samples
    }


def test_real_routes_are_counted_by_template(real_api: LiveServer, clean_db: str) -> None:
    with httpx.Client(base_url=real_api.url, timeout=30) as http:
        email = "metrics-user@example.com"
        http.post(
            "/api/auth/register",
            json={
                "email": email,
                "password": "practice-daily",
                "display_name": "M",
                "role": "student",
            },
        ).raise_for_status()
        tokens = http.post(
            "/api/auth/login", json={"email": email, "password": "practice-daily"}
        ).json()
        auth = {"authorization": f"Bearer {tokens['access_token']}"}
        for _ in range(3):
            assert http.get("/api/auth/me", headers=auth).status_code == 200
        assert http.get("/api/auth/me").status_code == 401
        assert http.get("/api/health").status_code == 200
        samples = _scrape(http)

    def count(route: str, status: str, method: str = "GET") -> float:
        key = (("method", method), ("route", route), ("status", status))
        return samples.get(("http_requests_total", key), 0.0)

    assert count("/api/auth/me", "200") >= 3
    assert count("/api/auth/me", "401") >= 1
    assert count("/api/auth/login", "200", "POST") >= 1
    assert count("/api/health", "200") >= 1
    build = ("build_info", (("environment", "test"), ("version", "9.9.9")))
    assert samples[build] == 1
    # Pool gauges are refreshed from the app's own pool on every scrape.
    assert ("db_pool_connections", (("state", "in_use"),)) in samples
    assert samples[("db_pool_max_connections", ())] > 0


def test_metrics_refused_without_token_in_the_error_shape(real_api: LiveServer) -> None:
    with httpx.Client(base_url=real_api.url, timeout=30) as http:
        resp = http.get("/api/metrics", headers={"x-request-id": "scrape-1"})
    assert resp.status_code == 401
    assert resp.json()["error"] == {
        "code": "metrics_unauthorized",
        "message": "GET /api/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'.",
        "request_id": "scrape-1",
    }
    assert resp.headers["x-request-id"] == "scrape-1"


def test_arbitrary_methods_and_paths_add_no_series(real_api: LiveServer) -> None:
    """A client picks the method token and the path; neither may mint a metric series."""
    with httpx.Client(base_url=real_api.url, timeout=30) as http:
        for i in range(5):
            http.request(f"X{i}23", "/api/health")
            http.request("PROPFIND", f"/api/health-{i}")
            http.get(f"/no/such/route/{i}")
        samples = _scrape(http)
    series = {labels for name, labels in samples if name == "http_requests_total"}
    methods = {dict(labels)["method"] for labels in series}
    routes = {dict(labels)["route"] for labels in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert not any(r.startswith("/no/") or r.startswith("/api/health-") for r in routes)
    assert "unmatched" in routes
