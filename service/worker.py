"""`python -m service.worker`: one job worker, for knowledge ingestion and recording analysis
(what production instance groups run).

Many workers on many machines share the PostgreSQL queue. Each sends heartbeats; every worker
also looks for jobs whose worker stopped sending them (killed, machine lost) and retries them.

A database outage does not end the process: procrastinate stops its worker when it loses the
database (a failed heartbeat or job fetch), so this loop waits for the database with exponential
backoff and starts a fresh worker; jobs the lost worker held are retried as stalled ones. Only
SIGTERM/SIGINT end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

import psycopg
from procrastinate import App
from procrastinate.exceptions import ConnectorException
from psycopg_pool import PoolTimeout
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from service.core.config import Settings, get_settings
from service.core.db import CONNECT_TIMEOUT_SECONDS, create_pool
from service.core.logs import configure_logging
from service.knowledge.queue import DEFAULT_POOL_MAX_SIZE, QUEUE, WorkerRuntime, build_queue_app
from service.maintenance.stale_uploads import NAMESPACE as MAINTENANCE
from service.maintenance.stale_uploads import tasks as maintenance_tasks
from service.recordings.jobs import QUEUE as RECORDINGS_QUEUE

log = logging.getLogger("service.worker")

# Reconnect backoff: 0.5 s doubling (with jitter) up to this ceiling, for as long as it takes.
RECONNECT_MAX_DELAY_SECONDS = 30.0


async def retry_stalled_jobs(app: App, settings: Settings) -> None:
    """procrastinate's stalled-job recipe: jobs of workers without a recent heartbeat go back."""
    while True:
        await asyncio.sleep(settings.ingest.worker_stalled_check_seconds)
        try:
            stalled = await app.job_manager.get_stalled_jobs(
                seconds_since_heartbeat=settings.ingest.worker_stalled_after_seconds
            )
            for job in stalled:
                log.warning("retrying stalled job", extra={"job_id": job.id, "task": job.task_name})
                with contextlib.suppress(Exception):  # another worker may have retried it first
                    await app.job_manager.retry_job(job)
        except Exception:
            log.exception("stalled-job check failed")


class Shutdown:
    """SIGTERM/SIGINT: stop the running worker gracefully and leave the reconnect loop."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.worker: asyncio.Task[None] | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request)

    def request(self) -> None:
        log.info("stop requested")
        self.requested.set()
        if self.worker is not None:
            self.worker.cancel()  # procrastinate finishes or aborts running jobs, then returns

    async def sleep(self, seconds: float) -> None:
        """tenacity's sleep, cut short by a stop request."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.requested.wait(), seconds)


async def wait_for_database(database_url: str, shutdown: Shutdown) -> None:
    """Back off (exponential, jittered, capped) until a connection succeeds or we must stop."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(psycopg.OperationalError),
        wait=wait_exponential_jitter(initial=0.5, max=RECONNECT_MAX_DELAY_SECONDS),
        sleep=shutdown.sleep,
        before_sleep=lambda state: log.warning(
            "database unreachable; retrying",
            extra={
                "attempt": state.attempt_number,
                "retry_in_s": round(state.upcoming_sleep, 1),
                "error": str(state.outcome.exception()) if state.outcome else "",
            },
        ),
    )
    async for attempt in retrying:
        with attempt:
            if shutdown.requested.is_set():
                return
            conn = await psycopg.AsyncConnection.connect(
                database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
            await conn.close()


async def serve(app: App, runtime: WorkerRuntime, shutdown: Shutdown) -> None:
    """One procrastinate worker until it stops (a stop request, or the database went away)."""
    settings = runtime.settings
    async with app.open_async():
        recovery = asyncio.create_task(retry_stalled_jobs(app, settings))
        shutdown.worker = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE, RECORDINGS_QUEUE],
                concurrency=settings.ingest.worker_concurrency,
                update_heartbeat_interval=settings.ingest.worker_heartbeat_seconds,
                stalled_worker_timeout=settings.ingest.worker_stalled_after_seconds,
                install_signal_handlers=False,  # ours: a stop must also end the reconnect loop
                wait=True,
                additional_context=runtime.context(),
            )
        )
        log.info("worker started", extra={"queues": [QUEUE, RECORDINGS_QUEUE]})
        try:
            await shutdown.worker
        finally:
            shutdown.worker = None
            recovery.cancel()


def build_worker_app(database_url: str, *, max_size: int = DEFAULT_POOL_MAX_SIZE) -> App:
    """The queue app plus what only workers run: the scheduled upkeep tasks."""
    app = build_queue_app(database_url, max_size=max_size)
    app.add_tasks_from(maintenance_tasks, namespace=MAINTENANCE)
    return app


async def run(settings: Settings) -> None:
    database_url = settings.db.url
    if not database_url:
        raise SystemExit("DATABASE_URL is not set (`make worker` uses the embedded server)")
    shutdown = Shutdown()
    shutdown.install()
    pool = create_pool(settings, database_url, check=True)
    await pool.open(wait=False)  # refills by itself once the database answers
    runtime = WorkerRuntime.build(settings, pool)
    # One App for the process (its tasks are registered once); each worker loop reopens it.
    app = build_worker_app(database_url, max_size=settings.queue.pool_max_size)
    quick_stops = 0
    try:
        while not shutdown.requested.is_set():
            await wait_for_database(database_url, shutdown)
            if shutdown.requested.is_set():
                break
            started = time.monotonic()
            try:
                await serve(app, runtime, shutdown)
            except asyncio.CancelledError:
                if not shutdown.requested.is_set():
                    raise
            except (ConnectorException, psycopg.Error, PoolTimeout, OSError) as exc:
                log.warning(
                    "worker lost the database", extra={"error": f"{type(exc).__name__}: {exc}"}
                )
            else:
                if not shutdown.requested.is_set():
                    # procrastinate stops its worker by itself when a side task (heartbeat,
                    # listener) fails: the database went away.
                    log.warning("worker stopped without a stop request; reconnecting")
            # A loop that keeps ending at once while the database answers must not spin.
            quick_stops = quick_stops + 1 if time.monotonic() - started < 30 else 0
            if quick_stops > 1 and not shutdown.requested.is_set():
                await shutdown.sleep(min(RECONNECT_MAX_DELAY_SECONDS, 0.5 * 2**quick_stops))
    finally:
        runtime.close()
        await pool.close()
    log.info("worker stopped")


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.format)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
