"""`python -m service.worker`: one ingestion worker (what production instance groups run).

Many workers on many machines share the PostgreSQL queue. Each sends heartbeats; every worker
also looks for jobs whose worker stopped sending them (killed, machine lost) and retries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from procrastinate import App

from service.core.config import Settings, get_settings
from service.core.db import create_pool
from service.core.logs import configure_logging
from service.knowledge.queue import QUEUE, WorkerRuntime, build_queue_app
from service.maintenance.stale_uploads import NAMESPACE as MAINTENANCE
from service.maintenance.stale_uploads import tasks as maintenance_tasks

log = logging.getLogger("service.worker")


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


def build_worker_app(database_url: str) -> App:
    """The queue app plus what only workers run: the scheduled upkeep tasks."""
    app = build_queue_app(database_url)
    app.add_tasks_from(maintenance_tasks, namespace=MAINTENANCE)
    return app


async def run(settings: Settings) -> None:
    database_url = settings.db.url
    if not database_url:
        raise SystemExit("DATABASE_URL is not set (`make worker` uses the embedded server)")
    pool = create_pool(settings, database_url)
    await pool.open(wait=True)
    runtime = WorkerRuntime.build(settings, pool)
    app = build_worker_app(database_url)
    async with app.open_async():
        recovery = asyncio.create_task(retry_stalled_jobs(app, settings))
        log.info("worker started", extra={"queue": QUEUE})
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=settings.ingest.worker_concurrency,
                update_heartbeat_interval=settings.ingest.worker_heartbeat_seconds,
                stalled_worker_timeout=settings.ingest.worker_stalled_after_seconds,
                install_signal_handlers=True,
                wait=True,
                additional_context=runtime.context(),
            )
        finally:
            recovery.cancel()
            runtime.close()
            await pool.close()


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.format)
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
