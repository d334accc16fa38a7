"""Liveness and readiness, and the origin lock (ORIGIN_ENFORCE) in front of everything else."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pydantic import ValidationError

from devtools.postgres import create_scratch_database
from service.app import create_app
from service.core.config import Settings
from service.core.migrations import shipped_migration_ids
from tests.conftest import ApiSettings, LiveServer, free_port

DEAD_DB = "postgresql://postgres:@/postgres?host=/nonexistent-socket-dir&connect_timeout=1"


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a hung dependency."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _probe(settings: Settings, path: str) -> tuple[httpx.Response, float]:
    with LiveServer(create_app(settings)) as srv:
        start = time.monotonic()
        r = httpx.get(f"{srv.url}{path}", timeout=30)
        return r, time.monotonic() - start


# --- liveness and readiness -------------------------------------------------------------------
def test_ready_when_database_schema_and_storage_answer(client: httpx.Client) -> None:
    assert client.get("/api/live").json() == {"status": "alive"}
    r = client.get("/api/ready")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert (body["database"], body["migrations"], body["storage"]) == ("ok", "ok", "ok")
    assert body["schema_head"] == shipped_migration_ids()[-1]
    assert body["missing_migrations"] == []


def test_database_down_is_not_ready_but_alive_and_answers_in_time(
    api_settings: ApiSettings,
) -> None:
    settings = api_settings(database_url=DEAD_DB, db_pool_timeout_seconds=1.0)
    with LiveServer(create_app(settings)) as srv:
        live = httpx.get(f"{srv.url}/api/live", timeout=10)
        start = time.monotonic()
        ready = httpx.get(f"{srv.url}/api/ready", timeout=30)
        took = time.monotonic() - start
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["database"] == "unavailable"
    assert ready.json()["migrations"] == "unknown"
    assert took < 4


def test_unmigrated_database_is_not_ready(api_settings: ApiSettings, pg_server_url: str) -> None:
    url = create_scratch_database(pg_server_url, "ready_empty", migrate=False)
    r, _ = _probe(api_settings(database_url=url), "/api/ready")
    assert r.status_code == 503
    body = r.json()
    assert (body["database"], body["migrations"]) == ("ok", "behind")
    assert body["missing_migrations"] == list(shipped_migration_ids())


def test_schema_missing_one_migration_is_not_ready_and_newer_schema_is_ready(
    api_settings: ApiSettings, pg_server_url: str
) -> None:
    url = create_scratch_database(pg_server_url, "ready_levels")
    head = shipped_migration_ids()[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        # A newer release migrated this database, then we rolled back to this one: still ready.
        conn.execute(
            "INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc) "
            "VALUES ('future', '9999_from_a_newer_release', now())"
        )
    r, _ = _probe(api_settings(database_url=url), "/api/ready")
    assert r.status_code == 200, r.text
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM _yoyo_migration WHERE migration_id = %s", (head,))
    r, _ = _probe(api_settings(database_url=url), "/api/ready")
    assert r.status_code == 503
    assert r.json()["migrations"] == "behind" and r.json()["missing_migrations"] == [head]


def test_storage_down_or_hung_is_not_ready_within_the_budget(
    api_settings: ApiSettings, silent_port: int
) -> None:
    refused = api_settings(s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    r, _ = _probe(refused, "/api/ready")
    assert r.status_code == 503 and r.json()["storage"] == "unavailable"
    assert r.json()["database"] == "ok"

    # (short store timeouts only so the test's own startup bucket check doesn't wait 30 s)
    hung = api_settings(
        s3_endpoint_url=f"http://127.0.0.1:{silent_port}", s3_timeout_seconds=1, s3_max_attempts=1
    )
    r, took = _probe(hung, "/api/ready")
    assert r.status_code == 503 and r.json()["storage"] == "unavailable"
    assert took < 4, f"readiness took {took:.1f}s against a storage that never answers"
    live, _ = _probe(hung, "/api/live")
    assert live.status_code == 200


# --- the origin lock --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def locked(api_settings: ApiSettings) -> Iterator[str]:
    settings = api_settings(
        origin_enforce=True,
        origin_shared_secret="current-secret",
        origin_shared_secret_previous="previous-secret",
        metrics_token="scrape-token",
    )
    with LiveServer(create_app(settings)) as srv:
        yield srv.url


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/api/version", {}, 403, "origin_secret_required"),
        ("/api/version", {"X-Origin-Secret": "guess"}, 403, "origin_secret_invalid"),
        ("/api/version", {"X-Origin-Secret": ""}, 403, "origin_secret_required"),
        ("/api/version", {"X-Origin-Secret": "current-secret"}, 200, None),
        ("/api/version", {"X-Origin-Secret": "previous-secret"}, 200, None),
        ("/openapi.json", {}, 403, "origin_secret_required"),
        ("/api/does-not-exist", {}, 403, "origin_secret_required"),
        ("/api/does-not-exist", {"X-Origin-Secret": "current-secret"}, 404, "not_found"),
        ("/api/live", {}, 200, None),
        ("/api/ready", {}, 200, None),
        ("/api/health", {}, 200, None),
        # Guarded by its own bearer token (the in-VPC Prometheus scrapes instances directly).
        ("/api/metrics", {"Authorization": "Bearer scrape-token"}, 200, None),
        ("/api/metrics", {}, 401, None),
    ],
)
def test_origin_lock(
    locked: str, path: str, headers: dict[str, str], status: int, code: str | None
) -> None:
    r = httpx.get(f"{locked}{path}", headers={"X-Request-ID": "rid-origin", **headers})
    assert r.status_code == status, r.text
    if code is not None:
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["request_id"] == "rid-origin"


def test_a_post_without_the_secret_changes_nothing(locked: str, db_url: str) -> None:
    email = "origin-lock@example.com"
    r = httpx.post(
        f"{locked}/api/auth/register",
        json={"email": email, "password": "correct horse", "display_name": "O", "role": "student"},
    )
    assert r.status_code == 403
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM users WHERE email = %s", (email,)).fetchone()
    assert row == (0,)


def test_metrics_without_a_token_are_behind_the_lock(api_settings: ApiSettings) -> None:
    settings = api_settings(origin_enforce=True, origin_shared_secret="s")
    r, _ = _probe(settings, "/api/metrics")
    assert r.status_code == 403


def test_unlocked_api_needs_no_secret(client: httpx.Client) -> None:
    assert client.get("/api/version").status_code == 200


def test_enforcing_without_a_secret_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="ORIGIN_SHARED_SECRET"):
        Settings.with_values(origin_enforce=True, origin_shared_secret="")
