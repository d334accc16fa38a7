"""Runs `python -m devtools.devstack up` (what `make up` executes) as a subprocess on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devtools.devstack.demo_users import DEMO_PASSWORD
from tests.conftest import REPO_ROOT, free_port


class LocalStack:
    def __init__(self, local_dir: Path, log: Path, environment: str = "local", **env: str) -> None:
        self.local_dir = local_dir
        self.log = log
        self.api_port, self.edge_port, self.s3_port = free_port(), free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.edge = f"http://127.0.0.1:{self.edge_port}"
        base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env = (
            base
            | {
                "LOCAL_DIR": str(local_dir),
                "ENVIRONMENT": environment,
                "API_PORT": str(self.api_port),
                "EDGE_PORT": str(self.edge_port),
                "S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            }
            | env
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def origin_headers(self) -> dict[str, str]:
        """What a local tool sends to reach the API directly (:8080) with the origin lock on."""
        return {"X-Origin-Secret": (self.local_dir / "origin-secret").read_text().strip()}

    def start(self) -> LocalStack:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devtools.devstack", "up"],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_healthy(self, url: str, timeout: float = 90) -> float:
        assert self.proc is not None
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(
            f"{url} not healthy within {timeout}s:\n{self.log.read_text()[-5000:]}"
        )

    def interrupt(self) -> int:
        """What Ctrl-C does: SIGINT to the foreground process group."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(60)


@contextmanager
def running_stack(tmp: Path, api_timeout: float = 90, **env: str) -> Iterator[LocalStack]:
    """A stack in `tmp` whose API and edge both answer their health checks; stopped as Ctrl-C
    stops it."""
    stack = LocalStack(tmp / "local", tmp / "up.log", **env).start()
    try:
        stack.wait_healthy(f"{stack.api}/api/health", timeout=api_timeout)
        stack.wait_healthy(f"{stack.edge}/health")
        yield stack
    finally:
        stack.interrupt()


def login(base: str, email: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    """The bearer header of a signed-in (demo) user."""
    r = httpx.post(
        f"{base}/api/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
