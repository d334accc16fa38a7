"""The PostgreSQL job queue (procrastinate): task definitions and how the API enqueues them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from procrastinate import App, Blueprint, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued

from service.core.config import DatabaseSettings, QueueSettings, Settings
from service.core.db import RECONNECT_TIMEOUT_SECONDS, Pool
from service.core.exceptions import Unavailable
from service.embeddings import Embedder, get_embedder
from service.knowledge.offload import ParserPool
from service.knowledge.pipeline import process_document
from service.knowledge.sources import SourceReader
from service.knowledge.storage_reader import object_getter
from service.observability.metrics import INGESTION_CHUNKS, INGESTION_JOBS
from service.repositories.knowledge import abandon
from service.storage import ObjectStore

log = logging.getLogger(__name__)

QUEUE = "ingest"
NAMESPACE = "knowledge"
PROCESS_TASK = f"{NAMESPACE}:process_document"

tasks = Blueprint()


@dataclass
class WorkerRuntime:
    """What tasks need, built once by the worker process (`python -m service.worker`) and handed
    to every job through procrastinate's job context."""

    settings: Settings
    pool: Pool
    embedder: Embedder
    reader: SourceReader
    store: ObjectStore
    parsers: ParserPool | None = None

    @classmethod
    def build(cls, settings: Settings, pool: Pool) -> WorkerRuntime:
        """Production's runtime: parsers in child processes, one per job slot."""
        parsers = ParserPool(
            settings.ingest.worker_concurrency, settings.ingest_limits.parse_timeout_seconds
        )
        store = ObjectStore(settings)
        reader = SourceReader(settings, object_getter(settings, store), offload=parsers)
        return cls(settings, pool, get_embedder(settings), reader, store, parsers)

    def context(self) -> dict[str, Any]:
        """The worker's `additional_context`."""
        return {RUNTIME_KEY: self}

    def close(self) -> None:
        if self.parsers is not None:
            self.parsers.close()


RUNTIME_KEY = "runtime"


# Run statuses as the ingestion_jobs_total{outcome} label (alerts use "failed" and "succeeded").
_OUTCOMES = {"completed": "succeeded", "failed": "failed"}


@tasks.task(name="process_document", queue=QUEUE, pass_context=True)
async def process_document_task(context: JobContext, document_id: str) -> None:
    """Retried from scratch if its worker dies: the run discards the dead run's staging rows.

    A job is retried only when its worker stopped sending heartbeats (killed, out of memory,
    machine lost). A document that keeps taking its worker down is failed after
    INGEST_MAX_ATTEMPTS runs instead of taking the next worker down too.
    """
    runtime = context.additional_context.get(RUNTIME_KEY)
    if not isinstance(runtime, WorkerRuntime):
        raise RuntimeError("worker runtime missing from the job context")
    attempts = context.job.attempts
    max_attempts = runtime.settings.ingest_limits.max_attempts
    async with runtime.pool.connection() as conn:
        if attempts >= max_attempts:
            log.error(
                "document abandoned after repeated worker failures",
                extra={"document_id": document_id, "attempts": attempts},
            )
            await abandon(
                conn,
                UUID(document_id),
                "too_many_attempts",
                f"Processing stopped its worker {attempts} times in a row, so it was abandoned. "
                "Check the file (or split it), then process it again.",
            )
            INGESTION_JOBS.labels("failed").inc()
            return
        try:
            result = await process_document(
                conn,
                runtime.settings,
                UUID(document_id),
                embedder=runtime.embedder,
                reader=runtime.reader,
            )
        except Exception:
            INGESTION_JOBS.labels("failed").inc()
            raise
    INGESTION_JOBS.labels(_OUTCOMES.get(result.status, result.status)).inc()
    INGESTION_CHUNKS.inc(result.chunks)


DEFAULT_POOL_TIMEOUT = DatabaseSettings.model_fields["pool_timeout_seconds"].default
DEFAULT_POOL_MAX_SIZE = QueueSettings.model_fields["pool_max_size"].default


def build_queue_app(
    database_url: str,
    *,
    max_size: int = DEFAULT_POOL_MAX_SIZE,
    timeout: float = DEFAULT_POOL_TIMEOUT,
) -> App:
    """`max_size` is QUEUE_POOL_MAX_SIZE; `timeout` bounds waiting for a connection (and opening
    the pool), so an unreachable database fails a caller instead of holding it."""
    app = App(
        connector=PsycopgConnector(
            conninfo=database_url,
            min_size=1,
            max_size=max_size,
            timeout=timeout,
            reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
        )
    )
    app.add_tasks_from(tasks, namespace=NAMESPACE)
    # Recording analysis shares the queue's database and workers (its own queue name). Imported
    # here: its task module builds on this one's worker runtime.
    from service.recordings.jobs import NAMESPACE as RECORDINGS
    from service.recordings.jobs import tasks as recording_tasks

    app.add_tasks_from(recording_tasks, namespace=RECORDINGS)
    return app


# Demo books are processed one at a time and after user documents, so an upload never waits
# for the whole corpus: it takes the worker's other slot.
SEED_PRIORITY = -10
SEED_LOCK = "knowledge-seed"


async def enqueue_processing(
    app: App, document_id: UUID, priority: int = 0, lock: str | None = None
) -> int | None:
    """One queued job per document at a time; a job per document runs one at a time (lock)."""
    key = f"knowledge-document:{document_id}"
    try:
        return await app.configure_task(
            PROCESS_TASK, queue=QUEUE, lock=lock or key, queueing_lock=key, priority=priority
        ).defer_async(document_id=str(document_id))
    except AlreadyEnqueued:
        log.info("processing already queued", extra={"document_id": str(document_id)})
        return None


class QueueClient:
    """The API's handle on the queue: opened on first use, so the API starts while the DB is down."""

    def __init__(
        self,
        database_url: str,
        *,
        max_size: int = DEFAULT_POOL_MAX_SIZE,
        timeout: float = DEFAULT_POOL_TIMEOUT,
    ) -> None:
        self.database_url = database_url
        self.max_size = max_size
        self.timeout = timeout
        self._app: App | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueClient:
        return cls(
            settings.db.url,
            max_size=settings.queue.pool_max_size,
            timeout=settings.db.pool_timeout_seconds,
        )

    async def app(self) -> App:
        async with self._lock:
            if self._app is None:
                app = build_queue_app(
                    self.database_url, max_size=self.max_size, timeout=self.timeout
                )
                await app.open_async()
                self._app = app
            return self._app

    async def enqueue_processing(
        self, document_id: UUID, priority: int = 0, lock: str | None = None
    ) -> int | None:
        try:
            return await enqueue_processing(await self.app(), document_id, priority, lock)
        except Exception as exc:  # connecting or deferring: either way the job isn't queued
            raise Unavailable("queue_unavailable", "The job queue is not answering.") from exc

    async def close(self) -> None:
        if self._app is not None:
            await self._app.close_async()
            self._app = None
