"""A tiny supervisor: start child processes, wait for readiness, stop them all on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: str | None = None
    ) -> Child:
        # Own process group: Ctrl-C reaches us once, and we stop children in order.
        proc = subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=True)  # noqa: S603
        child = Child(name, proc)
        self.children.append(child)
        return child

    def wait_ready(
        self, child: Child, check: Callable[[], bool], timeout: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}")
            if check():
                return
            time.sleep(0.25)
        raise RuntimeError(f"{child.name} not ready after {timeout:.0f}s ({what})")

    def watch(self) -> int:
        """Block until Ctrl-C/SIGTERM or until any child dies; returns the exit code."""
        while True:
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    print(
                        f"!! {child.name} exited with code {code}; stopping the stack", flush=True
                    )
                    return code or 1
            time.sleep(0.5)

    def stop_all(self, grace: float = 10.0) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                try:
                    os.killpg(child.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.proc.wait(remaining)
            except subprocess.TimeoutExpired:
                print(f"!! {child.name} did not stop in time; killing it", flush=True)
                try:
                    os.killpg(child.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.proc.wait()
        self.children.clear()


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code < 500
        except httpx.HTTPError:
            return False

    return check


def install_sigterm_as_interrupt() -> None:
    """SIGTERM takes the same clean path as Ctrl-C (children stopped, embedded DB stopped)."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def python() -> str:
    return sys.executable
