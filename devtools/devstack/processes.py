"""A tiny supervisor: start child processes, wait for readiness, restart the ones that crash,
stop them all on Ctrl-C.

A crashed child is restarted after a short backoff (1 s, doubling to 30 s), so one process's
crash (a worker losing its database, the API killed by the OOM killer) doesn't take the stack
down. A child that keeps dying within seconds of starting is broken, not unlucky: after
`MAX_FAST_FAILURES` such crashes in a row the supervisor stops the stack and says why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

Popen = subprocess.Popen[bytes]


FAST_FAILURE_SECONDS = 10.0  # a child that dies sooner than this after starting failed fast
MAX_FAST_FAILURES = 5
RESTART_BACKOFF_SECONDS = (1.0, 30.0)  # first delay, ceiling


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    argv: list[str] = field(default_factory=list)  # empty: not restartable (started elsewhere)
    env: dict[str, str] | None = None
    cwd: str | None = None
    log: Path | None = None
    after_restart: Callable[[], None] | None = None  # e.g. restore the local S3 server's data
    started_at: float = field(default_factory=time.monotonic)
    fast_failures: int = 0
    restarts: int = 0


class GaveUp(RuntimeError):
    """A child failed fast too many times in a row."""


@dataclass
class Supervisor:
    children: list[Child] = field(default_factory=list)
    fast_failure_seconds: float = FAST_FAILURE_SECONDS
    max_fast_failures: int = MAX_FAST_FAILURES
    restart_backoff: tuple[float, float] = RESTART_BACKOFF_SECONDS  # first delay, ceiling

    def _spawn(
        self, argv: list[str], env: dict[str, str] | None, cwd: str | None, log: Path | None
    ) -> Popen:
        # Own process group: Ctrl-C reaches us once, and we stop children in order.
        out = log.open("ab") if log is not None else None
        return subprocess.Popen(  # noqa: S603
            argv,
            env=env,
            cwd=cwd,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cwd: str | None = None,
        log: Path | None = None,
    ) -> Child:
        """`log`: the child's output (stdout and stderr) is appended there instead of ours."""
        child = Child(name, self._spawn(argv, env, cwd, log), argv=argv, env=env, cwd=cwd, log=log)
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

    def restart(self, child: Child) -> None:
        """Restart a child that exited (with backoff), or raise GaveUp if it keeps failing fast."""
        code = child.proc.returncode
        ran = time.monotonic() - child.started_at
        child.fast_failures = child.fast_failures + 1 if ran < self.fast_failure_seconds else 0
        if not child.argv:
            raise GaveUp(f"{child.name} exited with code {code} and cannot be restarted")
        if child.fast_failures >= self.max_fast_failures:
            raise GaveUp(
                f"{child.name} exited with code {code}; it died within "
                f"{self.fast_failure_seconds:.0f}s of starting {child.fast_failures} times in a "
                "row, so it is broken rather than unlucky (see its output above)"
            )
        first, ceiling = self.restart_backoff
        delay = min(ceiling, first * 2 ** max(0, child.fast_failures - 1))
        print(
            f"!! {child.name} exited with code {code} after {ran:.0f}s; restarting in {delay:g}s"
            f" (restart {child.restarts + 1})",
            flush=True,
        )
        time.sleep(delay)
        child.proc = self._spawn(child.argv, child.env, child.cwd, child.log)
        child.started_at = time.monotonic()
        child.restarts += 1
        if child.after_restart is not None:
            child.after_restart()

    def watch(self) -> int:
        """Block until Ctrl-C/SIGTERM, restarting children that exit; returns the exit code
        (non-zero only when a child kept failing and the supervisor gave up on it)."""
        while True:
            for child in self.children:
                if child.proc.poll() is None:
                    continue
                try:
                    self.restart(child)
                except GaveUp as exc:
                    print(f"!! giving up: {exc}; stopping the stack", flush=True)
                    return child.proc.returncode or 1
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


def http_ok(url: str, ok_below: int = 500) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=3.0).status_code < ok_below
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
