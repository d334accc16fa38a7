from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from service.app import create_app
from tests.conftest import LiveServer, make_settings


def test_health_reports_database_ok(client: httpx.Client) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] == "ok"


def test_version_reports_schema(client: httpx.Client) -> None:
    r = client.get("/api/version")
    assert r.status_code == 200
    assert r.json()["schema_version"] >= "0001_foundation"


def test_health_is_503_when_database_is_down(tmp_path: pytest.TempPathFactory) -> None:
    dead = "postgresql://postgres:@/postgres?host=/nonexistent-socket-dir&connect_timeout=1"
    settings = make_settings(dead, tmp_path, db_pool_timeout_seconds=1.0)  # type: ignore[arg-type]
    with LiveServer(create_app(settings)) as srv:
        r = httpx.get(f"{srv.url}/api/health", timeout=10)
        assert r.status_code == 503
        assert r.json()["database"] == "unavailable"
        # A DB-backed endpoint degrades to a clean 503 in the error shape, not a 500 or a hang.
        r = httpx.post(
            f"{srv.url}/api/auth/login",
            json={"email": "a@example.com", "password": "whatever1"},
            timeout=10,
        )
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "database_unavailable"


def test_request_id_is_echoed_and_in_error_body(client: httpx.Client) -> None:
    r = client.get("/api/does-not-exist", headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "trace-42"
    assert r.json() == {
        "error": {"code": "not_found", "message": "Not Found", "request_id": "trace-42"}
    }


def test_unsafe_request_id_is_replaced(client: httpx.Client) -> None:
    r = client.get("/api/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"
    assert len(r.headers["x-request-id"]) == 32


def test_validation_errors_use_the_error_shape(client: httpx.Client) -> None:
    r = client.post("/api/auth/register", json={"email": "nope"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert err["request_id"] == r.headers["x-request-id"]
    assert err["details"]


def test_malformed_json_is_a_4xx(client: httpx.Client) -> None:
    r = client.post(
        "/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


def test_method_not_allowed_shape(client: httpx.Client) -> None:
    r = client.delete("/api/health")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_unhandled_exception_is_a_json_500(settings: object, tmp_path: object) -> None:
    app = create_app(settings)  # type: ignore[arg-type]
    boom = APIRouter()

    @boom.get("/api/boom")
    async def explode() -> None:
        raise RuntimeError("kaboom")

    app.include_router(boom)
    with LiveServer(app) as srv:
        r = httpx.get(f"{srv.url}/api/boom", headers={"X-Request-ID": "rid-500"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "rid-500"
    assert r.json() == {
        "error": {
            "code": "internal_error",
            "message": "An unexpected error occurred.",
            "request_id": "rid-500",
        }
    }


def test_openapi_documents_error_responses(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    login = spec["paths"]["/api/auth/login"]["post"]
    assert "401" in login["responses"]
    assert "ErrorResponse" in str(login["responses"]["401"])
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            # 202: accepted for background work (POST /api/knowledge/{id}/process).
            assert {"200", "201", "202", "204"} & set(op["responses"]), (
                path,
                method,
            )
