"""SQL for stored feedback reports. Who may read one is decided by the recording's access
check (service/recordings/library.py) before any of these run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from service.core.db import Conn, columns, fetch_one


@dataclass(frozen=True)
class FeedbackRow:
    recording_id: UUID
    user_id: UUID
    analysis_created_at: datetime
    mode: str
    report: dict[str, Any]
    generated_by: UUID | None
    generated_at: datetime


_COLUMNS = columns(FeedbackRow)


async def get(conn: Conn, recording_id: UUID) -> FeedbackRow | None:
    query = sql.SQL("SELECT {} FROM feedback_reports WHERE recording_id = %s").format(_COLUMNS)
    return await fetch_one(conn, FeedbackRow, query, (recording_id,))


async def save(
    conn: Conn,
    *,
    recording_id: UUID,
    user_id: UUID,
    analysis_created_at: datetime,
    mode: str,
    report: dict[str, Any],
    generated_by: UUID,
    generated_at: datetime,
) -> bool:
    """Stores the report only if the analysis it was written from is still the stored one;
    False when a re-analysis replaced or removed it meanwhile."""
    cur = await conn.execute(
        "INSERT INTO feedback_reports (recording_id, user_id, analysis_created_at, mode, report, "
        "generated_by, generated_at) "
        "SELECT a.recording_id, %(user_id)s, a.created_at, %(mode)s, %(report)s, "
        "%(generated_by)s, %(generated_at)s FROM recording_analyses a "
        "WHERE a.recording_id = %(recording_id)s AND a.created_at = %(analysis_created_at)s "
        "ON CONFLICT (recording_id) DO UPDATE SET analysis_created_at = EXCLUDED.analysis_created_at, "
        "mode = EXCLUDED.mode, report = EXCLUDED.report, generated_by = EXCLUDED.generated_by, "
        "generated_at = EXCLUDED.generated_at RETURNING recording_id",
        {
            "recording_id": recording_id,
            "user_id": user_id,
            "analysis_created_at": analysis_created_at,
            "mode": mode,
            "report": Jsonb(report),
            "generated_by": generated_by,
            "generated_at": generated_at,
        },
    )
    return await cur.fetchone() is not None
