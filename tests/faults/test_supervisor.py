"""The local supervisor (`make up`) restarts a crashed child, and gives up on one that keeps
failing fast, saying why. Real child processes."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from devtools.devstack.processes import Supervisor


def _supervisor() -> Supervisor:
    return Supervisor(fast_failure_seconds=2.0, max_fast_failures=3, restart_backoff=(0.1, 0.2))


def test_a_crashed_child_is_restarted_and_the_others_keep_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "crashed-once"
    # Crashes on its first run (after 2.5 s: not a fast failure), then runs until stopped.
    flaky = (
        "import pathlib, sys, time\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if not m.exists():\n"
        "    time.sleep(2.5); m.write_text('x'); sys.exit(7)\n"
        "time.sleep(600)\n"
    )
    sup = _supervisor()
    steady = sup.start("steady", [sys.executable, "-c", "import time; time.sleep(600)"], {})
    child = sup.start("flaky", [sys.executable, "-c", flaky], {})
    first_pid = child.proc.pid
    watcher = threading.Thread(target=sup.watch, daemon=True)
    try:
        watcher.start()
        deadline_ok = False
        for _ in range(100):
            if child.restarts == 1 and child.proc.poll() is None:
                deadline_ok = True
                break
            threading.Event().wait(0.1)
        assert deadline_ok, "the crashed child was not restarted"
        assert child.proc.pid != first_pid
        assert steady.proc.poll() is None
        assert watcher.is_alive(), "the supervisor stopped watching"
    finally:
        sup.stop_all(grace=5)
    assert "!! flaky exited with code 7" in capsys.readouterr().out


def test_a_child_that_keeps_failing_fast_stops_the_stack_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sup = _supervisor()
    steady = sup.start("steady", [sys.executable, "-c", "import time; time.sleep(600)"], {})
    sup.start("broken", [sys.executable, "-c", "import sys; sys.exit(3)"], {})
    try:
        code = sup.watch()
    finally:
        sup.stop_all(grace=5)
    assert code == 3
    assert steady.proc.returncode is not None  # stopped with the stack
    out = capsys.readouterr().out
    assert out.count("!! broken exited with code 3") == 2  # restarted twice, then given up
    assert "giving up: broken exited with code 3; it died within 2s of starting 3 times" in out
