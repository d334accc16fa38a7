"""The recordings a caller may see, and what they may do with them.

Every decision goes through the caller's AccessScope (service/access): a student reads and
changes their own; a linked teacher reads, but doesn't change, their students'; an admin does
both for everyone. A recording the caller may not read is a 404, exactly as if it didn't exist.
These functions take no HTTP objects, so the tutor's tools call them as the routes do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from service.access.scope import AccessScope
from service.core.db import Conn
from service.core.exceptions import Conflict, Forbidden, NotFound, Unavailable
from service.knowledge.queue import QueueClient
from service.recordings.jobs import enqueue_analysis
from service.repositories import recordings as repo
from service.repositories.recordings import (
    AnalysisRow,
    RecordingFilter,
    RecordingRow,
    SortKey,
    SortOrder,
)
from service.storage import ObjectStore, sanitize_filename

NOT_FOUND = NotFound("recording_not_found", "No such recording, or it isn't yours to see.")


async def visible_recording(conn: Conn, scope: AccessScope, recording_id: UUID) -> RecordingRow:
    row = await repo.get(conn, recording_id)
    if row is None or not scope.can_read_user_data(row.user_id):
        raise NOT_FOUND
    return row


async def changeable_recording(conn: Conn, scope: AccessScope, recording_id: UUID) -> RecordingRow:
    row = await visible_recording(conn, scope, recording_id)
    if not scope.can_change(row.user_id):
        raise Forbidden(
            "forbidden", "Teachers can read their students' recordings but not change them."
        )
    return row


@dataclass(frozen=True)
class RecordingQuery:
    filters: RecordingFilter = field(default_factory=RecordingFilter)
    sort_by: SortKey = "created_at"
    order: SortOrder = "desc"
    limit: int = 20
    offset: int = 0


async def list_recordings(
    conn: Conn, scope: AccessScope, query: RecordingQuery | None = None
) -> tuple[list[RecordingRow], int]:
    """The page of recordings the caller may read (their own, their students', or all), and
    how many match in total. Naming a user the caller can't read lists nothing."""
    query = query or RecordingQuery()
    if query.filters.user_id is not None and not scope.can_read_user_data(query.filters.user_id):
        return [], 0
    return await repo.list_visible(
        conn,
        scope.user_data_sql("user_id"),
        query.filters,
        sort_by=query.sort_by,
        order=query.order,
        limit=query.limit,
        offset=query.offset,
    )


async def get_analysis(
    conn: Conn, scope: AccessScope, recording_id: UUID
) -> tuple[RecordingRow, AnalysisRow]:
    """The completed analysis; 409 while it is queued or running, or after it failed."""
    row = await visible_recording(conn, scope, recording_id)
    if row.status == "failed":
        raise Conflict(
            "analysis_failed",
            f"The analysis failed: {row.error_message or row.error_code}",
            details=[{"status": row.status, "error_code": row.error_code}],
        )
    analysis = await repo.get_analysis(conn, recording_id) if row.status == "completed" else None
    if analysis is None:
        raise Conflict(
            "analysis_not_ready",
            f"The recording is {row.status}; its analysis isn't ready yet.",
            details=[{"status": row.status}],
        )
    return row, analysis


async def request_analysis(
    conn: Conn, scope: AccessScope, queue: QueueClient, recording_id: UUID
) -> RecordingRow:
    """Analyses a finished recording again (the old result is dropped first)."""
    row = await changeable_recording(conn, scope, recording_id)
    updated = await repo.request_analysis(conn, recording_id)
    if updated is None:
        raise Conflict(
            "analysis_in_progress",
            f"The recording is {row.status}; its analysis is already queued or running.",
            details=[{"status": row.status}],
        )
    try:
        await enqueue_analysis(await queue.app(), recording_id)
    except Exception as exc:
        await repo.mark_failed(
            conn, recording_id, "queue_unavailable", "The analysis could not be queued; retry."
        )
        raise Unavailable("queue_unavailable", "The job queue is not answering.") from exc
    return updated


async def delete_recording(
    conn: Conn, scope: AccessScope, store: ObjectStore, bucket: str, recording_id: UUID
) -> None:
    """The object goes first: if storage fails, the row stays (and the caller gets 503)."""
    row = await changeable_recording(conn, scope, recording_id)
    await asyncio.to_thread(store.delete, bucket, row.storage_key)
    await repo.delete(conn, recording_id)


def download_link(
    store: ObjectStore, bucket: str, row: RecordingRow, ttl_seconds: int
) -> tuple[str, datetime]:
    url = store.presign_get(
        bucket,
        row.storage_key,
        ttl_seconds,
        download_name=sanitize_filename(row.original_filename, suffix=f".{row.format}"),
    )
    return url, datetime.now(UTC) + timedelta(seconds=ttl_seconds)
