"""SQL for recordings and their analysis results. Who may see what is decided by the caller's
access scope (service/access), whose filter the list query takes as a composed fragment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from service.core.db import Conn, columns, fetch_new, fetch_one, fetch_page

RecordingStatus = Literal["uploaded", "analyzing", "completed", "failed"]
SortKey = Literal["created_at", "duration", "original_filename"]
SortOrder = Literal["asc", "desc"]


@dataclass(frozen=True)
class NewRecording:
    """What the upload knows when it writes the row."""

    id: UUID
    user_id: UUID
    original_filename: str
    format: str
    codec: str
    storage_key: str
    size_bytes: int
    sha256: str
    duration_seconds: float
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class RecordingRow(NewRecording):
    status: RecordingStatus
    error_code: str | None
    error_message: str | None
    analysis_started_at: datetime | None
    analysis_finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AnalysisRow:
    recording_id: UUID
    analyzer: str
    analyzer_version: str
    duration_seconds: float
    segment_seconds: float
    scores: dict[str, float | None]
    reasons: dict[str, str]
    measurements: dict[str, Any]
    segments: list[dict[str, Any]]
    definitions: dict[str, dict[str, Any]]
    created_at: datetime


@dataclass(frozen=True)
class RecordingFilter:
    status: RecordingStatus | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    user_id: UUID | None = None


_COLUMNS = columns(RecordingRow)
_NEW_FIELDS = [f for f in NewRecording.__dataclass_fields__]
_INSERT = sql.SQL("INSERT INTO recordings ({}) VALUES ({}) RETURNING {}").format(
    sql.SQL(", ").join(map(sql.Identifier, _NEW_FIELDS)),
    sql.SQL(", ").join(sql.Placeholder(f) for f in _NEW_FIELDS),
    _COLUMNS,
)
_SORT_COLUMNS: dict[SortKey, str] = {
    "created_at": "created_at",
    "duration": "duration_seconds",
    "original_filename": "original_filename",
}


async def insert(conn: Conn, new: NewRecording) -> RecordingRow:
    return await fetch_new(conn, RecordingRow, _INSERT, new.__dict__)


async def get(conn: Conn, recording_id: UUID) -> RecordingRow | None:
    query = sql.SQL("SELECT {} FROM recordings WHERE id = %s").format(_COLUMNS)
    return await fetch_one(conn, RecordingRow, query, (recording_id,))


async def list_visible(
    conn: Conn,
    visible: sql.Composable,
    filters: RecordingFilter,
    *,
    sort_by: SortKey,
    order: SortOrder,
    limit: int,
    offset: int,
) -> tuple[list[RecordingRow], int]:
    """`visible` is the caller's scope as a WHERE fragment over `user_id`."""
    conditions: list[sql.Composable] = [visible]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if filters.status:
        conditions.append(sql.SQL("status = %(status)s"))
        params["status"] = filters.status
    if filters.user_id:
        conditions.append(sql.SQL("user_id = %(user_id)s"))
        params["user_id"] = filters.user_id
    # Dates are UTC calendar days; date_to includes its whole day.
    if filters.date_from:
        conditions.append(sql.SQL("created_at >= %(date_from)s"))
        params["date_from"] = datetime.combine(filters.date_from, datetime.min.time(), UTC)
    if filters.date_to:
        conditions.append(sql.SQL("created_at < %(date_to)s"))
        params["date_to"] = datetime.combine(
            filters.date_to + timedelta(days=1), datetime.min.time(), UTC
        )
    direction = sql.SQL("ASC" if order == "asc" else "DESC")
    return await fetch_page(
        conn,
        RecordingRow,
        select=_COLUMNS,
        source=sql.SQL("recordings"),
        where=sql.SQL(" AND ").join(conditions),
        order_by=sql.SQL("{} {}, id {}").format(
            sql.Identifier(_SORT_COLUMNS[sort_by]), direction, direction
        ),
        params=params,
    )


async def delete(conn: Conn, recording_id: UUID) -> None:
    """The analysis goes with it (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM recordings WHERE id = %s", (recording_id,))


async def request_analysis(conn: Conn, recording_id: UUID) -> RecordingRow | None:
    """A finished (completed or failed) recording goes back to `analyzing` and loses its old
    result, so a stale analysis is never shown; None if one is already queued or running."""
    async with conn.transaction():
        query = sql.SQL(
            "UPDATE recordings SET status = 'analyzing', error_code = NULL, error_message = NULL, "
            "analysis_started_at = NULL, analysis_finished_at = NULL, updated_at = now() "
            "WHERE id = %s AND status IN ('completed', 'failed') RETURNING {}"
        ).format(_COLUMNS)
        row = await fetch_one(conn, RecordingRow, query, (recording_id,))
        if row is not None:
            await conn.execute(
                "DELETE FROM recording_analyses WHERE recording_id = %s", (recording_id,)
            )
        return row


async def mark_failed(conn: Conn, recording_id: UUID, code: str, message: str) -> None:
    await conn.execute(
        "UPDATE recordings SET status = 'failed', error_code = %s, error_message = %s, "
        "analysis_finished_at = now(), updated_at = now() WHERE id = %s",
        (code, message[:1000], recording_id),
    )


async def mark_analyzing(conn: Conn, recording_id: UUID) -> RecordingRow | None:
    """The job has started (again, if a dead worker's job is retried). None: the recording was
    deleted, or is already finished (a duplicate job has nothing to do)."""
    query = sql.SQL(
        "UPDATE recordings SET status = 'analyzing', error_code = NULL, error_message = NULL, "
        "analysis_started_at = now(), analysis_finished_at = NULL, updated_at = now() "
        "WHERE id = %s AND status IN ('uploaded', 'analyzing') RETURNING {}"
    ).format(_COLUMNS)
    return await fetch_one(conn, RecordingRow, query, (recording_id,))


_ANALYSIS_COLUMNS = columns(AnalysisRow)
_JSON_FIELDS = ("scores", "reasons", "measurements", "segments", "definitions")


async def save_analysis(conn: Conn, values: dict[str, Any]) -> bool:
    """Stores the result and completes the recording in one transaction; False if the recording
    was deleted while it was being analysed."""
    fields = [f for f in AnalysisRow.__dataclass_fields__ if f != "created_at"]
    params = {k: Jsonb(v) if k in _JSON_FIELDS else v for k, v in values.items()}
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE recordings SET status = 'completed', analysis_finished_at = now(), "
            "updated_at = now() WHERE id = %s RETURNING id",
            (values["recording_id"],),
        )
        if await cur.fetchone() is None:
            return False
        await conn.execute(
            sql.SQL(
                "INSERT INTO recording_analyses ({}) VALUES ({}) ON CONFLICT (recording_id) DO "
                "UPDATE SET {}, created_at = now()"
            ).format(
                sql.SQL(", ").join(map(sql.Identifier, fields)),
                sql.SQL(", ").join(sql.Placeholder(f) for f in fields),
                sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(f), sql.Identifier(f))
                    for f in fields
                    if f != "recording_id"
                ),
            ),
            params,
        )
    return True


async def get_analysis(conn: Conn, recording_id: UUID) -> AnalysisRow | None:
    query = sql.SQL("SELECT {} FROM recording_analyses WHERE recording_id = %s").format(
        _ANALYSIS_COLUMNS
    )
    return await fetch_one(conn, AnalysisRow, query, (recording_id,))
