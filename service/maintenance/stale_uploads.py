"""Removes what an upload left behind when it was never finished, hourly on the workers.

- Pending projects (never confirmed) and knowledge documents whose file was never processed,
  once older than UPLOAD_CLEANUP_AFTER_SECONDS: their objects first, then their rows.
- Projects stuck in `deleting` (the API died between removing the file and the rows).
- Objects no row points at, once that old: an upload URL used again after confirm, the copy of
  a confirm that was interrupted, a file whose delete half failed.

Objects go before rows, so a row never points at a missing object; an object whose delete
fails keeps its row, and the next run tries again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import Blueprint, JobContext
from psycopg import sql
from psycopg.rows import scalar_row

from service.core.config import Settings
from service.core.db import Conn, Pool
from service.knowledge.queue import QUEUE, RUNTIME_KEY, WorkerRuntime
from service.storage import UPLOAD_PREFIX, ObjectStore, StorageUnavailable, upload_key

log = logging.getLogger(__name__)

NAMESPACE = "maintenance"
_BATCH = 500

tasks = Blueprint()


@dataclass
class SweepReport:
    projects: int = 0
    documents: int = 0
    objects: int = 0
    storage_failed: bool = False


async def _scalars(conn: Conn, query: sql.Composed, params: dict[str, Any]) -> list[Any]:
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


class _Sweep:
    def __init__(self, pool: Pool, store: ObjectStore, settings: Settings, before: datetime):
        self.pool, self.store, self.before = pool, store, before
        self.projects_bucket = settings.storage.bucket_projects
        self.knowledge_bucket = settings.storage.bucket_knowledge
        self.report = SweepReport()

    async def _delete(self, bucket: str, *keys: str) -> bool:
        try:
            for key in keys:
                await asyncio.to_thread(self.store.delete, bucket, key)
        except StorageUnavailable:
            log.warning("cleanup: storage unavailable", extra={"bucket": bucket})
            self.report.storage_failed = True
            return False
        return True

    async def projects(self) -> None:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT id, storage_key FROM projects WHERE "
                    "(status = 'pending' AND created_at < %(before)s) OR "
                    "(status = 'deleting' AND updated_at < %(before)s) LIMIT %(n)s",
                    {"before": self.before, "n": _BATCH},
                )
            ).fetchall()
        for row in rows:
            key = row["storage_key"]
            if not await self._delete(self.projects_bucket, upload_key(key), key):
                return
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "DELETE FROM projects WHERE id = %(id)s AND ("
                    "(status = 'pending' AND created_at < %(before)s) OR "
                    "(status = 'deleting' AND updated_at < %(before)s))",
                    {"id": row["id"], "before": self.before},
                )
                self.report.projects += cur.rowcount

    async def documents(self) -> None:
        async with self.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    "SELECT id, storage_key FROM knowledge_documents WHERE storage_key IS NOT NULL "
                    "AND status = 'pending' AND processing_started_at IS NULL "
                    "AND created_at < %(before)s LIMIT %(n)s",
                    {"before": self.before, "n": _BATCH},
                )
            ).fetchall()
        for row in rows:
            if not await self._delete(self.knowledge_bucket, row["storage_key"]):
                return
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "DELETE FROM knowledge_documents WHERE id = %(id)s AND status = 'pending' "
                    "AND processing_started_at IS NULL AND created_at < %(before)s",
                    {"id": row["id"], "before": self.before},
                )
                self.report.documents += cur.rowcount

    async def orphans(self) -> None:
        for bucket, table in (
            (self.projects_bucket, "projects"),
            (self.knowledge_bucket, "knowledge_documents"),
        ):
            try:
                listed = await asyncio.to_thread(self.store.list_objects, bucket)
            except StorageUnavailable:
                self.report.storage_failed = True
                return
            old = [o.key for o in listed if o.last_modified < self.before]
            for start in range(0, len(old), _BATCH):
                if not await self._orphans_in(bucket, table, old[start : start + _BATCH]):
                    return

    async def _orphans_in(self, bucket: str, table: str, keys: list[str]) -> bool:
        # An upload belongs to a project still pending; any other object to a row's own key.
        uploads = [k.removeprefix(UPLOAD_PREFIX) for k in keys if k.startswith(UPLOAD_PREFIX)]
        stored = [k for k in keys if not k.startswith(UPLOAD_PREFIX)]
        select = sql.SQL("SELECT storage_key FROM {} WHERE storage_key = ANY(%(k)s)").format(
            sql.Identifier(table)
        )
        async with self.pool.connection() as conn:
            referenced = set(await _scalars(conn, select, {"k": stored}))
            pending = set(
                await _scalars(conn, select + sql.SQL(" AND status = 'pending'"), {"k": uploads})
            )
        for key in keys:
            if key.startswith(UPLOAD_PREFIX):
                kept = key.removeprefix(UPLOAD_PREFIX) in pending
            else:
                kept = key in referenced
            if kept:
                continue
            if not await self._delete(bucket, key):
                return False
            self.report.objects += 1
        return True


async def sweep(pool: Pool, store: ObjectStore, settings: Settings, now: datetime) -> SweepReport:
    """One pass; `now` comes from the schedule (tests pass a later one)."""
    before = now - timedelta(seconds=settings.upload_cleanup.after_seconds)
    job = _Sweep(pool, store, settings, before)
    await job.projects()
    await job.documents()
    await job.orphans()
    log.info(
        "stale uploads swept",
        extra={
            "projects": job.report.projects,
            "documents": job.report.documents,
            "objects": job.report.objects,
            "storage_failed": job.report.storage_failed,
        },
    )
    return job.report


@tasks.periodic(cron="17 * * * *", periodic_id="stale-uploads")
@tasks.task(name="sweep_stale_uploads", queue=QUEUE, pass_context=True)
async def sweep_stale_uploads(context: JobContext, timestamp: int) -> None:
    runtime = context.additional_context.get(RUNTIME_KEY)
    if not isinstance(runtime, WorkerRuntime):
        raise RuntimeError("worker runtime missing from the job context")
    await sweep(
        runtime.pool, runtime.store, runtime.settings, datetime.fromtimestamp(timestamp, UTC)
    )
