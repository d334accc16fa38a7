"""PostgreSQL stops and comes back: the API fails fast and recovers by itself, the ingestion
worker rides it out. Each test runs its own embedded server, since it gets stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.drills import db_outage
from devtools.postgres import EmbeddedServerControl, create_scratch_database, start_embedded
from tests.conftest import REPO_ROOT
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[str, EmbeddedServerControl]]:
    data_dir = tmp_path / "pg" / "data"
    server = start_embedded(data_dir, cleanup="delete")
    control = EmbeddedServerControl(data_dir, server)
    yield server, control
    control.close()  # the embedded server's own cleanup then deletes its data dir


def test_short_outage_under_load(tmp_path: Path) -> None:
    """`make drill-db-outage` with a 20 s outage (the drill's default is 2 minutes)."""
    report = db_outage.run_drill(20.0, tmp_path)
    assert report.ok, report.problems
    assert report.during_outage["projects"] == {
        "503 database_unavailable": sum(report.during_outage["projects"].values())
    }
    assert report.failure_seconds_p95 <= db_outage.FAST_FAILURE_S
    assert report.recovery_seconds is not None and report.recovery_seconds <= 10


RESTART_AND_REAP = """
import ctypes, os, sys
from pathlib import Path
from devtools.postgres import EmbeddedServerControl, start_embedded
# Orphaned postmasters become our children (PR_SET_CHILD_SUBREAPER), as they become an init's
# that reaps them; this machine's pid 1 doesn't, which hid the leak on some runs.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
data_dir = Path(sys.argv[1])
control = EmbeddedServerControl(data_dir, start_embedded(data_dir, cleanup="delete"))
control.stop()
control.start()
while True:  # reap the stopped first postmaster
    try:
        if os.waitpid(-1, os.WNOHANG) == (0, 0):
            break
    except ChildProcessError:
        break
if sys.argv[2] == "close":
    control.close()
"""


@pytest.mark.parametrize("close", [True, False], ids=["closed", "not closed"])
def test_a_restarted_server_is_stopped_at_exit_only_when_closed(
    tmp_path: Path, close: bool
) -> None:
    """The embedded package stops only the postmaster it started. After an outage restarted the
    server, `close()` is what stops it; without it the server outlives the process (the leak
    this guards against)."""
    data_dir = tmp_path / "pg" / "data"
    subprocess.run(
        [sys.executable, "-c", RESTART_AND_REAP, str(data_dir), "close" if close else "keep"],
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
    )
    running = subprocess.run(
        ["pgrep", "-f", f"postgres -D {data_dir}"], capture_output=True, text=True
    )
    if running.stdout.strip():
        for pid in running.stdout.split():
            os.kill(int(pid), signal.SIGTERM)  # the leak shown, cleaned up here
    assert bool(running.stdout.strip()) is not close


def test_the_drill_reports_what_went_wrong() -> None:
    """The verdicts can fail: a 500, a hang, a slow recovery and a dead /api/live are caught."""
    S = db_outage.Sample
    samples = [
        S("projects", 5.0, 0.1, 500),
        S("projects", 6.0, 15.0, 0),
        S("projects", 7.0, 6.0, 503, "database_unavailable"),
        S("live", 8.0, 0.01, 503),
        S("ready", 8.0, 0.01, 200),
        S("projects", 35.0, 0.1, 503, "database_unavailable"),
        S("projects", 45.0, 0.1, 200),
    ]
    report = db_outage.Report(ok=False, outage_seconds=20)
    db_outage.analyse(samples, stopped=3.0, started=23.0, outage_s=20, report=report)
    problems = " | ".join(report.problems)
    for expected in ("5xx but not 503", "no answer", "not fast", "/api/live failed",
                     "/api/ready was not 503", "never answered 200", "after PostgreSQL was back"):  # fmt: skip
        assert expected in problems, problems


def test_worker_waits_for_the_database_then_serves_and_stops_cleanly(
    own_server: tuple[str, EmbeddedServerControl], tmp_path: Path
) -> None:
    """A worker that starts while the database is down (or loses it) retries with backoff
    instead of exiting; once the database answers it starts its worker loop."""
    server, control = own_server
    url = create_scratch_database(server, "worker_reconnect")
    control.stop()
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test", "LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.worker"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: log.read_text().count("database unreachable; retrying") >= 3, 30, "retries"
        )
        assert proc.poll() is None, log.read_text()
        control.start()
        wait_until(lambda: "worker started" in log.read_text(), 45, "the worker loop")
        # Loses it again: the worker loop ends, the process goes back to waiting.
        control.stop()
        wait_until(
            lambda: log.read_text().count("database unreachable; retrying") >= 4, 45, "retry"
        )
        assert proc.poll() is None, log.read_text()
        control.start()
        wait_until(lambda: log.read_text().count("worker started") >= 2, 60, "reconnect")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0, log.read_text()
    assert "worker stopped" in log.read_text()
