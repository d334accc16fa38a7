"""SQL for teacher-student links. The access scope (service/access) reuses the lookups here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import errors

from service.core.db import Conn, fetch_all, fetch_count, fetch_one
from service.core.exceptions import Conflict


@dataclass(frozen=True)
class LinkRow:
    id: UUID
    created_at: datetime
    teacher_id: UUID
    teacher_email: str
    teacher_name: str
    student_id: UUID
    student_email: str
    student_name: str


_SELECT = """
SELECT l.id, l.created_at,
       t.id AS teacher_id, t.email AS teacher_email, t.display_name AS teacher_name,
       s.id AS student_id, s.email AS student_email, s.display_name AS student_name
FROM teacher_student_links l
JOIN users t ON t.id = l.teacher_id
JOIN users s ON s.id = l.student_id
"""


async def create(conn: Conn, teacher_id: UUID, student_id: UUID, created_by: UUID) -> UUID:
    try:
        cur = await conn.execute(
            "INSERT INTO teacher_student_links (teacher_id, student_id, created_by) "
            "VALUES (%s, %s, %s) RETURNING id",
            (teacher_id, student_id, created_by),
        )
    except errors.UniqueViolation as exc:
        raise Conflict(
            "relationship_exists", "This teacher and student are already linked."
        ) from exc
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def get(conn: Conn, link_id: UUID) -> LinkRow | None:
    return await fetch_one(conn, LinkRow, _SELECT + " WHERE l.id = %s", (link_id,))


async def list_for(
    conn: Conn, user_id: UUID | None, limit: int, offset: int
) -> tuple[list[LinkRow], int]:
    """Links the user is part of; None lists every link (admins)."""
    where = "" if user_id is None else " WHERE l.teacher_id = %(u)s OR l.student_id = %(u)s"
    params = {"u": user_id, "limit": limit, "offset": offset}
    page = " ORDER BY l.created_at DESC, l.id LIMIT %(limit)s OFFSET %(offset)s"
    rows = await fetch_all(conn, LinkRow, _SELECT + where + page, params)
    count = "SELECT count(*) FROM teacher_student_links l" + where  # noqa: S608
    return rows, await fetch_count(conn, count, params)


async def delete(conn: Conn, link_id: UUID) -> None:
    await conn.execute("DELETE FROM teacher_student_links WHERE id = %s", (link_id,))


async def teacher_ids_of_student(conn: Conn, student_id: UUID) -> list[UUID]:
    cur = await conn.execute(
        "SELECT teacher_id FROM teacher_student_links WHERE student_id = %s", (student_id,)
    )
    return [r["teacher_id"] for r in await cur.fetchall()]


async def student_ids_of_teacher(conn: Conn, teacher_id: UUID) -> list[UUID]:
    cur = await conn.execute(
        "SELECT student_id FROM teacher_student_links WHERE teacher_id = %s", (teacher_id,)
    )
    return [r["student_id"] for r in await cur.fetchall()]
