"""The background worker as tests meet it: real `python -m service.worker` processes on the test
database, and waiting for a status the worker moves along."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from tests.conftest import REPO_ROOT


class StartWorker(Protocol):
    def __call__(self, name: str = "worker", **extra_env: str) -> subprocess.Popen[bytes]: ...


class WorkerProcesses:
    """Each process logs to `<log_dir>/<name>.log` and runs in its own session, so stopping it
    takes its parser children too."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, stop_seconds: float) -> None:
        self.env = {**os.environ, "ENVIRONMENT": "test", "LOG_LEVEL": "INFO", **env}
        self.log_dir = log_dir
        self.stop_seconds = stop_seconds
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str = "worker", **extra_env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.worker"],
            env={**self.env, **extra_env},
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(self.stop_seconds)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def wait_finished(read: Callable[[], dict[str, Any]], timeout: float, what: str) -> dict[str, Any]:
    """Polls `read()` until its status is completed or failed; the statuses seen on the way are
    kept in the answer's `seen`."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        body = read()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in ("completed", "failed"):
            body["seen"] = seen
            return body
        time.sleep(0.2)
    raise AssertionError(f"{what} never finished: {seen}")
