"""Drives the local stack runner (what `make up` executes) as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.slow


def _postgres_running(data_dir: Path) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if cmd and cmd[0].endswith("postgres") and str(data_dir) in cmd:
            return True
    return False


def _start(local_dir: Path, port: int, log: Path, edge_port: int = 0) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"LOCAL_DIR": str(local_dir), "API_PORT": str(port), "ENVIRONMENT": "local"}
    env |= {"EDGE_PORT": str(edge_port or free_port())}
    env["S3_ENDPOINT_URL"] = (
        f"http://127.0.0.1:{free_port()}"  # local S3 server off the default port
    )
    return subprocess.Popen(
        [sys.executable, "-m", "service.devstack", "up"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not healthy within {timeout}s:\n{log.read_text()}")


def _interrupt(proc: subprocess.Popen[bytes]) -> int:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does to the foreground group
    return proc.wait(30)


def test_up_serves_health_survives_restart_and_stops_cleanly(tmp_path: Path) -> None:
    local_dir, port = tmp_path / "local", free_port()
    api = f"http://127.0.0.1:{port}"
    log = tmp_path / "up.log"

    edge_port = free_port()
    proc = _start(local_dir, port, log, edge_port)
    try:
        _wait_healthy(proc, f"{api}/api/health", log)
        # The edge Worker (workerd) comes up in front of the API and reports both healthy.
        _wait_healthy(proc, f"http://127.0.0.1:{edge_port}/health", log, timeout=90)
        r = httpx.get(f"http://127.0.0.1:{edge_port}/api/health")
        assert r.status_code == 200 and r.json()["database"] == "ok"
        r = httpx.post(
            f"{api}/api/auth/register",
            json={
                "email": "keep@example.com",
                "password": "correct horse",
                "display_name": "K",
                "role": "student",
            },
        )
        assert r.status_code == 201
        out = log.read_text()
        assert f"{api}/docs" in out and "teacher@example.com" in out
    finally:
        code = _interrupt(proc)
    assert code == 0, log.read_text()
    assert not _postgres_running(local_dir / "pgdata"), "embedded PostgreSQL left running"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/api/health", timeout=1)

    # Second start: same data, the user registered above can still log in.
    edge_port = free_port()
    proc = _start(local_dir, port, log, edge_port)
    try:
        _wait_healthy(proc, f"{api}/api/health", log)
        # The edge Worker (workerd) comes up in front of the API and reports both healthy.
        _wait_healthy(proc, f"http://127.0.0.1:{edge_port}/health", log, timeout=90)
        r = httpx.get(f"http://127.0.0.1:{edge_port}/api/health")
        assert r.status_code == 200 and r.json()["database"] == "ok"
        r = httpx.post(
            f"{api}/api/auth/login", json={"email": "keep@example.com", "password": "correct horse"}
        )
        assert r.status_code == 200
    finally:
        assert _interrupt(proc) == 0
    assert not _postgres_running(local_dir / "pgdata")
