"""Drives the local stack runner (what `make up` executes) as a real subprocess."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def _child(stack: LocalStack, module: str) -> psutil.Process:
    """The stack's running child process whose command line runs `module`."""
    assert stack.proc is not None
    for proc in psutil.Process(stack.proc.pid).children(recursive=True):
        try:
            if module in " ".join(proc.cmdline()):
                return proc
        except psutil.NoSuchProcess:
            continue
    raise AssertionError(f"no {module} child running")


def _wait_for(check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except AssertionError:
            pass
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_up_serves_health_survives_restart_and_stops_cleanly(tmp_path: Path) -> None:
    stack = LocalStack(tmp_path / "local", tmp_path / "up.log")
    stack.start()
    try:
        stack.wait_healthy(f"{stack.api}/api/health", timeout=60)
        # The edge Worker (workerd) comes up in front of the API and reports both healthy.
        stack.wait_healthy(f"{stack.edge}/health")
        r = httpx.get(f"{stack.edge}/api/health")
        assert r.status_code == 200 and r.json()["database"] == "ok"
        assert httpx.get(f"{stack.api}/api/ready").status_code == 200
        account = {
            "email": "keep@example.com",
            "password": "correct horse",
            "display_name": "K",
            "role": "student",
        }
        # The origin lock is on: straight to :8080 without the local secret is refused ...
        r = httpx.post(f"{stack.api}/api/auth/register", json=account)
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_secret_required"
        # ... with it (what local tools send), or through the edge, it works.
        r = httpx.post(f"{stack.api}/api/auth/register", json=account, headers=stack.origin_headers)
        assert r.status_code == 201
        # The banner comes once the worker has started and the demo books are queued.
        _wait_for(lambda: f"{stack.edge}/docs" in stack.log.read_text(), 60)
        out = stack.log.read_text()
        assert "teacher@example.com" in out and "X-Origin-Secret: $(cat " in out

        # A crashed child is restarted; the rest of the stack keeps serving.
        worker = _child(stack, "service.worker")
        worker.kill()
        _wait_for(lambda: "!! worker exited" in stack.log.read_text(), 15)
        _wait_for(lambda: _child(stack, "service.worker").pid != worker.pid, 15)
        assert stack.proc is not None and stack.proc.poll() is None
        assert httpx.get(f"{stack.edge}/api/health").status_code == 200
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
        # The local secret survives the restart too (.local/origin-secret).
        r = httpx.post(
            f"{stack.api}/api/auth/login",
            json={"email": "keep@example.com", "password": "correct horse"},
            headers=stack.origin_headers,
        )
        assert r.status_code == 200
    finally:
        assert stack.interrupt() == 0
    assert not _postgres_running(stack.local_dir / "pgdata")
