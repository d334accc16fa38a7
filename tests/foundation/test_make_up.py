"""Drives the local stack runner (what `make up` executes) as a real subprocess."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

from tests.local_stack import LocalStack

pytestmark = pytest.mark.slow


def _postgres_running(data_dir: Path) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and cmd[0].endswith("postgres") and str(data_dir) in cmd:
            return True
    return False


def test_up_serves_health_survives_restart_and_stops_cleanly(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "local", tmp_path / "up.log")
    stack.start()
    try:
        stack.wait_healthy(f"{stack.api}/api/health", timeout=60)
        # The edge Worker (workerd) comes up in front of the API and reports both healthy.
        stack.wait_healthy(f"{stack.edge}/health")
        r = httpx.get(f"{stack.edge}/api/health")
        assert r.status_code == 200 and r.json()["database"] == "ok"
        r = httpx.post(
            f"{stack.api}/api/auth/register",
            json={
                "email": "keep@example.com",
                "password": "correct horse",
                "display_name": "K",
                "role": "student",
            },
        )
        assert r.status_code == 201
        out = stack.log.read_text()
        assert f"{stack.api}/docs" in out and "teacher@example.com" in out
    finally:
        code = stack.interrupt()
    assert code == 0, stack.log.read_text()
    assert not _postgres_running(stack.local_dir / "pgdata"), "embedded PostgreSQL left running"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{stack.api}/api/health", timeout=1)

    # Second start: same data, the user registered above can still log in.
    stack.start()
    try:
        stack.wait_healthy(f"{stack.api}/api/health", timeout=60)
        r = httpx.post(
            f"{stack.api}/api/auth/login",
            json={"email": "keep@example.com", "password": "correct horse"},
        )
        assert r.status_code == 200
    finally:
        assert stack.interrupt() == 0
    assert not _postgres_running(stack.local_dir / "pgdata")
