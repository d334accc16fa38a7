"""Database-outage drill: stop PostgreSQL under a steady request load, then start it again.

Rehearses what the [DatabaseUnreachable](../../runbooks/DatabaseUnreachable.md) runbook promises,
with the processes production runs: the API (`uvicorn service.main:app`) and the ingestion worker
(`python -m service.worker`) as subprocesses, on an embedded PostgreSQL of the drill's own (it is
stopped, so it can't be the local stack's) and a local S3 server. A client polls a database-backed
route (`GET /api/projects`), `/api/live` and `/api/ready` the whole time.

It passes when:

- no request gets a 500 or hangs: during the outage a database-backed request answers
  503 `database_unavailable` within the pool timeout (+1 s);
- `/api/live` answers 200 throughout, `/api/ready` 503 during the outage and 200 after;
- within 10 s of PostgreSQL accepting connections again, requests succeed and keep succeeding,
  without restarting anything;
- the worker process is still running and processes a job queued after the outage.

    python -m devtools.drills.db_outage [--outage-seconds 120] [--report PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from devtools import local_s3
from devtools.devstack.processes import Supervisor
from devtools.drills import REPORTS_DIR, publish
from devtools.live_server import free_port
from devtools.postgres import EmbeddedServerControl, create_scratch_database, start_embedded
from service.knowledge.queue import QueueClient

RECOVERY_BUDGET_S = 10.0
POOL_TIMEOUT_S = 5.0  # DB_POOL_TIMEOUT_SECONDS, the production default
# A request that finds the database down answers within this (the first one after the stop may
# wait the pool timeout: the pool learns it is down from that request's connection attempt).
FAST_FAILURE_S = 1.0
PROBES = ("projects", "live", "ready")


@dataclass
class Sample:
    probe: str
    started: float  # seconds since the drill's clock started
    seconds: float
    status: int  # 0: no answer (timeout or connection error)
    code: str = ""


@dataclass
class Report:
    ok: bool
    outage_seconds: float
    requests: int = 0
    during_outage: dict[str, dict[str, int]] = field(default_factory=dict)
    server_errors: int = 0  # 5xx other than 503, and 503s with another code
    no_answer: int = 0
    slowest_failure_s: float = 0.0
    failure_seconds_p50: float = 0.0
    failure_seconds_p95: float = 0.0
    live_failures: int = 0
    ready_503_during_outage: bool = False
    ready_after: int = 0
    recovery_seconds: float | None = None
    worker_alive: bool = False
    worker_reconnected: bool = False
    job_after_outage: str = ""
    problems: list[str] = field(default_factory=list)


class Load:
    """Clients polling until stopped, recording every answer: `workers` threads on the
    database-backed route, one on the probes."""

    PATHS = {"projects": "/api/projects", "live": "/api/live", "ready": "/api/ready"}

    def __init__(self, api: str, token: str, clock: float, workers: int = 4) -> None:
        self.api, self.clock = api, clock
        self.headers = {"Authorization": f"Bearer {token}"}
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(("projects",),), daemon=True)
            for _ in range(workers)
        ] + [threading.Thread(target=self._run, args=(("live", "ready"),), daemon=True)]

    def now(self) -> float:
        return time.monotonic() - self.clock

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> list[Sample]:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        return sorted(self.samples, key=lambda s: s.started)

    def _run(self, probes: tuple[str, ...]) -> None:
        with httpx.Client(base_url=self.api, timeout=POOL_TIMEOUT_S + 10) as client:
            while not self.stop.is_set():
                for probe in probes:
                    started = self.now()
                    try:
                        r = client.get(self.PATHS[probe], headers=self.headers)
                        status = r.status_code
                        code = r.json().get("error", {}).get("code", "") if status >= 400 else ""
                    except (httpx.HTTPError, ValueError):
                        status, code = 0, ""
                    sample = Sample(probe, round(started, 3), self.now() - started, status, code)
                    with self.lock:
                        self.samples.append(sample)
                time.sleep(0.05)


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


async def _enqueue(url: str, document_id: uuid.UUID) -> None:
    queue = QueueClient(url)
    try:
        await queue.enqueue_processing(document_id)
    finally:
        await queue.close()


def _job_status(url: str, document_id: uuid.UUID) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE args->>'document_id' = %s",
            (str(document_id),),
        ).fetchone()
    return str(row[0]) if row else ""


def analyse(
    samples: list[Sample], stopped: float, started: float, outage_s: float, report: Report
) -> None:
    """Fill `report` from the samples (times relative to the drill's clock)."""
    report.requests = len(samples)
    during = [s for s in samples if stopped + 1 <= s.started and s.started + s.seconds <= started]
    for s in during:
        bucket = report.during_outage.setdefault(s.probe, {})
        key = str(s.status) + (f" {s.code}" if s.code else "")
        bucket[key] = bucket.get(key, 0) + 1
    for s in samples:
        if s.status == 0:
            report.no_answer += 1
        elif s.status >= 500 and not (s.status == 503 and s.code == "database_unavailable"):
            if not (s.probe == "ready" and s.status == 503):  # readiness answers its own body
                report.server_errors += 1
        if s.probe == "live" and s.status != 200:
            report.live_failures += 1
    failures = [s.seconds for s in during if s.probe == "projects" and s.status != 200]
    report.slowest_failure_s = round(max(failures, default=0.0), 2)
    if failures:
        ordered = sorted(failures)
        report.failure_seconds_p50 = round(ordered[len(ordered) // 2], 3)
        report.failure_seconds_p95 = round(ordered[int(len(ordered) * 0.95)], 3)
    report.ready_503_during_outage = any(
        s.probe == "ready" and s.status == 503 for s in during
    ) and all(s.status == 503 for s in during if s.probe == "ready")
    after = [s for s in samples if s.started >= started + RECOVERY_BUDGET_S]
    report.ready_after = sum(1 for s in after if s.probe == "ready" and s.status == 200)
    projects_after = [s for s in samples if s.probe == "projects" and s.started >= started]
    bad = [s for s in projects_after if s.status != 200]
    last_bad = max((s.started + s.seconds for s in bad), default=started)
    if any(s.status == 200 and s.started >= last_bad for s in projects_after):
        report.recovery_seconds = round(max(0.0, last_bad - started), 2)

    if report.server_errors:
        report.problems.append(
            f"{report.server_errors} answers were 5xx but not 503 database_unavailable"
        )
    if report.no_answer:
        report.problems.append(f"{report.no_answer} requests got no answer (timeout/connection)")
    if not failures:
        report.problems.append("no database-backed request failed: was the database stopped?")
    if report.slowest_failure_s > FAST_FAILURE_S:
        report.problems.append(
            f"a failure took {report.slowest_failure_s}s (budget {FAST_FAILURE_S}s: not fast)"
        )
    if report.live_failures:
        report.problems.append(f"/api/live failed {report.live_failures} times")
    if not report.ready_503_during_outage:
        report.problems.append("/api/ready was not 503 throughout the outage")
    if not report.ready_after:
        report.problems.append("/api/ready never answered 200 after the outage")
    if report.recovery_seconds is None or report.recovery_seconds > RECOVERY_BUDGET_S:
        report.problems.append(
            f"errors went on {report.recovery_seconds}s after PostgreSQL was back "
            f"(budget {RECOVERY_BUDGET_S}s)"
        )


def run_drill(outage_s: float, work_dir: Path, recovery_window_s: float = 15.0) -> Report:
    report = Report(ok=False, outage_seconds=outage_s)
    data_dir = work_dir / "pg" / "data"
    server = start_embedded(data_dir, cleanup="delete")
    control = EmbeddedServerControl(data_dir, server)
    url = create_scratch_database(server, "drill_outage")
    api_port, s3_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    s3 = f"http://127.0.0.1:{s3_port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "LOCAL_DIR": str(work_dir / "local"),
        "S3_ENDPOINT_URL": s3,
        "LOG_LEVEL": "INFO",
        "EMBEDDING_WARMUP": "false",
        "DB_POOL_TIMEOUT_SECONDS": str(POOL_TIMEOUT_S),
        "WORKER_HEARTBEAT_SECONDS": "1",
        "WORKER_STALLED_AFTER_SECONDS": "5",
        "WORKER_STALLED_CHECK_SECONDS": "2",
        # All the load is one user's: the per-user limit (1000/hour) would answer 429 within
        # a minute on a quiet machine and hide the recovery. The limiter still runs (and needs
        # the database like every request).
        "RATE_LIMIT_API": "1000000/hour",
    }
    # Not restarted when they exit: the drill checks that they don't.
    sup = Supervisor()
    worker_log = work_dir / "worker.log"
    try:
        sup.start("s3", local_s3.server_command("127.0.0.1", s3_port), env, log=work_dir / "s3.log")
        _wait(lambda: local_s3.is_up(s3), 60, "the S3 server")
        python = sys.executable
        sup.start(
            "api",
            [
                python,
                "-m",
                "uvicorn",
                "service.main:app",
                "--port",
                str(api_port),
                "--no-access-log",
            ],
            env,
            log=work_dir / "api.log",
        )
        _wait(lambda: httpx.get(f"{api}/api/ready").status_code == 200, 90, "the API")
        worker = sup.start("worker", [python, "-m", "service.worker"], env, log=worker_log).proc
        _wait(lambda: "worker started" in worker_log.read_text(), 90, "the worker")
        email = f"outage-{uuid.uuid4().hex[:6]}@example.com"
        reg = httpx.post(
            f"{api}/api/auth/register",
            json={
                "email": email,
                "password": "outage-drill",
                "display_name": "O",
                "role": "teacher",
            },
        )
        reg.raise_for_status()
        login = httpx.post(
            f"{api}/api/auth/login", json={"email": email, "password": "outage-drill"}
        )
        login.raise_for_status()
        token = login.json()["access_token"]

        clock = time.monotonic()
        load = Load(api, token, clock)
        load.start()
        time.sleep(3)
        stopped = load.now()
        control.stop()
        print(f"==> PostgreSQL stopped; outage of {outage_s:.0f}s under load", flush=True)
        time.sleep(outage_s)
        control.start()
        started = load.now()
        print("==> PostgreSQL is back", flush=True)
        time.sleep(recovery_window_s)
        analyse(load.finish(), stopped, started, outage_s, report)

        report.worker_alive = worker.poll() is None
        report.worker_reconnected = worker_log.read_text().count("worker started") >= 2
        document_id = uuid.uuid4()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO knowledge_documents (id, title, source_type, source_url, is_public) "
                "VALUES (%s, 'after the outage', 'web', 'http://127.0.0.1:9/none', true)",
                (document_id,),
            )
        asyncio.run(_enqueue(url, document_id))
        try:
            _wait(
                lambda: _job_status(url, document_id) in ("succeeded", "failed", "cancelled"),
                60,
                "the queued job",
            )
        except RuntimeError:
            pass
        report.job_after_outage = _job_status(url, document_id)
        if not report.worker_alive:
            report.problems.append("the ingestion worker exited")
        if not report.worker_reconnected:
            report.problems.append("the ingestion worker did not start a new worker loop")
        if report.job_after_outage != "succeeded":
            report.problems.append(
                f"a job queued after the outage did not run ({report.job_after_outage or 'none'})"
            )
    finally:
        sup.stop_all(grace=20)
        control.close()
    report.ok = not report.problems
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--outage-seconds", type=float, default=120.0)
    parser.add_argument("--report", type=Path, default=REPORTS_DIR / "db-outage.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drill-outage-") as tmp:
        report = run_drill(args.outage_seconds, Path(tmp))
        if not report.ok:
            for name in ("api.log", "worker.log"):
                print(f"--- {name} (tail)\n" + (Path(tmp) / name).read_text()[-3000:])
    return publish(report, args.report)


if __name__ == "__main__":
    raise SystemExit(main())
