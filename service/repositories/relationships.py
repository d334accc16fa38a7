"""SQL for teacher-student links. The access scope (service/access) reuses the lookups here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import errors
from psycopg.sql import SQL

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


# A user's links, as a query to run or to nest in another: a student's teachers (column
# teacher_id), a teacher's students (column student_id). The user's id is the %(user_id)s
# parameter, not part of the text, so it is one statement for every user: psycopg prepares it
# once per connection, rather than once per user until its cache of prepared statements churns.
TEACHERS_OF_STUDENT = SQL(
    "SELECT teacher_id FROM teacher_student_links WHERE student_id = %(user_id)s"
)
STUDENTS_OF_TEACHER = SQL(
    "SELECT student_id FROM teacher_student_links WHERE teacher_id = %(user_id)s"
)


# --- link requests (the student's consent) ----------------------------------------------


@dataclass(frozen=True)
class LinkRequestRow:
    id: UUID
    teacher_id: UUID
    teacher_email: str
    teacher_name: str
    student_email: str
    status: str  # pending | accepted | declined | cancelled
    created_at: datetime
    responded_at: datetime | None
    link_id: UUID | None


_REQUEST_SELECT = """
SELECT r.id, r.teacher_id, t.email AS teacher_email, t.display_name AS teacher_name,
       r.student_email, r.status, r.created_at, r.responded_at, r.link_id
FROM link_requests r JOIN users t ON t.id = r.teacher_id
"""
_OPEN = "r.status IN ('pending', 'declined')"


async def open_request(conn: Conn, teacher_id: UUID, email: str) -> LinkRequestRow | None:
    """The teacher's unanswered (or privately declined) request to this address, if any."""
    return await fetch_one(
        conn,
        LinkRequestRow,
        _REQUEST_SELECT
        + f" WHERE r.teacher_id = %s AND lower(r.student_email) = lower(%s) AND {_OPEN}"
        + " ORDER BY r.created_at DESC LIMIT 1",
        (teacher_id, email),
    )


async def create_request(conn: Conn, teacher_id: UUID, email: str) -> LinkRequestRow:
    cur = await conn.execute(
        "INSERT INTO link_requests (teacher_id, student_email) VALUES (%s, lower(%s)) "
        "ON CONFLICT DO NOTHING RETURNING id",
        (teacher_id, email),
    )
    row = await cur.fetchone()
    found = await (get_request(conn, row["id"]) if row else open_request(conn, teacher_id, email))
    assert found is not None
    return found


async def count_open_requests(conn: Conn, teacher_id: UUID) -> int:
    return await fetch_count(
        conn,
        "SELECT count(*) FROM link_requests r WHERE r.teacher_id = %s AND " + _OPEN,  # noqa: S608
        (teacher_id,),
    )


async def get_request(conn: Conn, request_id: UUID) -> LinkRequestRow | None:
    return await fetch_one(
        conn, LinkRequestRow, _REQUEST_SELECT + " WHERE r.id = %s", (request_id,)
    )


async def list_requests(
    conn: Conn, *, teacher_id: UUID | None, student_email: str | None, limit: int, offset: int
) -> tuple[list[LinkRequestRow], int]:
    """Requests a teacher made (any status but cancelled), those addressed to a student's email
    (pending only), or, with neither, all of them (admins)."""
    where = " WHERE TRUE"
    params: dict[str, object] = {"limit": limit, "offset": offset}
    if teacher_id is not None:
        where = " WHERE r.teacher_id = %(teacher)s AND r.status <> 'cancelled'"
        params["teacher"] = teacher_id
    elif student_email is not None:
        where = " WHERE lower(r.student_email) = lower(%(email)s) AND r.status = 'pending'"
        params["email"] = student_email
    page = " ORDER BY r.created_at DESC, r.id LIMIT %(limit)s OFFSET %(offset)s"
    rows = await fetch_all(conn, LinkRequestRow, _REQUEST_SELECT + where + page, params)
    count = "SELECT count(*) FROM link_requests r" + where  # noqa: S608
    return rows, await fetch_count(conn, count, params)


async def answer_request(
    conn: Conn, request_id: UUID, status: str, link_id: UUID | None = None
) -> None:
    await conn.execute(
        "UPDATE link_requests SET status = %s, responded_at = now(), link_id = %s WHERE id = %s",
        (status, link_id, request_id),
    )


async def find_link(conn: Conn, teacher_id: UUID, student_id: UUID) -> UUID | None:
    cur = await conn.execute(
        "SELECT id FROM teacher_student_links WHERE teacher_id = %s AND student_id = %s",
        (teacher_id, student_id),
    )
    row = await cur.fetchone()
    return row["id"] if row else None
