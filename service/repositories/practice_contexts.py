"""SQL for users' practice context (one row per user, written by upsert)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import errors, sql

from service.core.db import Conn, columns, fetch_new, fetch_one


@dataclass(frozen=True)
class PracticeContextRow:
    user_id: UUID
    goals: str
    constraints: str
    repertoire: list[str]
    experience_level: str | None
    practice_minutes_per_day: int | None
    updated_at: datetime


_COLUMNS = columns(PracticeContextRow)
_FIELDS = ("goals", "constraints", "repertoire", "experience_level", "practice_minutes_per_day")
_UPSERT = sql.SQL(
    "INSERT INTO practice_contexts (user_id, {fields}) VALUES (%(user_id)s, {values}) "
    "ON CONFLICT (user_id) DO UPDATE SET {updates}, updated_at = now() RETURNING {columns}"
).format(
    fields=sql.SQL(", ").join(map(sql.Identifier, _FIELDS)),
    values=sql.SQL(", ").join(map(sql.Placeholder, _FIELDS)),
    updates=sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(f), sql.Identifier(f)) for f in _FIELDS
    ),
    columns=_COLUMNS,
)


async def get(conn: Conn, user_id: UUID) -> PracticeContextRow | None:
    query = sql.SQL("SELECT {} FROM practice_contexts WHERE user_id = %s").format(_COLUMNS)
    return await fetch_one(conn, PracticeContextRow, query, (user_id,))


async def upsert(
    conn: Conn,
    user_id: UUID,
    *,
    goals: str,
    constraints: str,
    repertoire: list[str],
    experience_level: str | None,
    practice_minutes_per_day: int | None,
) -> PracticeContextRow | None:
    """None: no such user."""
    params = {
        "user_id": user_id,
        "goals": goals,
        "constraints": constraints,
        "repertoire": repertoire,
        "experience_level": experience_level,
        "practice_minutes_per_day": practice_minutes_per_day,
    }
    try:
        return await fetch_new(conn, PracticeContextRow, _UPSERT, params)
    except errors.ForeignKeyViolation:
        return None
