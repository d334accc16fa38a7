"""SQL for projects. Visibility rules live in `service.access.projects`; this module only queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from service.core.db import Conn, columns, fetch_new, fetch_one, fetch_page
from service.models.projects import CallerAccess, ProjectStatus


@dataclass(frozen=True)
class ProjectRow:
    id: UUID
    owner_id: UUID
    title: str
    description: str | None
    filename: str
    storage_key: str
    status: ProjectStatus
    page_count: int | None
    file_size: int | None
    etag: str | None
    pdf_title: str | None
    created_at: datetime
    updated_at: datetime
    access_level: CallerAccess | None  # the caller's: owner, their grant, or None


_COLUMNS = columns(ProjectRow, "p", computed=("access_level",))
# The caller's effective level: owner, else their grant, else NULL.
_LEVEL = sql.SQL(
    "CASE WHEN p.owner_id = %(user)s THEN 'owner' "
    "ELSE (SELECT a.level FROM project_access a "
    "WHERE a.project_id = p.id AND a.user_id = %(user)s) END AS access_level"
)
_INSERT = sql.SQL(
    "INSERT INTO projects AS p (id, owner_id, title, description, filename, storage_key) "
    "VALUES (%s, %s, %s, %s, %s, %s) RETURNING {}, 'owner' AS access_level"
).format(_COLUMNS)
_GET = sql.SQL("SELECT {}, {} FROM projects p WHERE p.id = %(id)s").format(_COLUMNS, _LEVEL)


async def create(
    conn: Conn,
    *,
    project_id: UUID,
    owner_id: UUID,
    title: str,
    description: str | None,
    filename: str,
    storage_key: str,
) -> ProjectRow:
    params = (project_id, owner_id, title, description, filename, storage_key)
    return await fetch_new(conn, ProjectRow, _INSERT, params)


async def get_for_user(conn: Conn, project_id: UUID, user_id: UUID) -> ProjectRow | None:
    return await fetch_one(conn, ProjectRow, _GET, {"id": project_id, "user": user_id})


def _visible_filter(ownership: str, see_all: bool) -> str:
    owned = "p.owner_id = %(user)s"
    shared = (
        "EXISTS (SELECT 1 FROM project_access a WHERE a.project_id = p.id AND a.user_id = %(user)s)"
    )
    if ownership == "owned":
        return owned
    if ownership == "shared":
        return shared
    return "TRUE" if see_all else f"({owned} OR {shared})"


async def list_for_user(
    conn: Conn, user_id: UUID, *, ownership: str, see_all: bool, limit: int, offset: int
) -> tuple[list[ProjectRow], int]:
    return await fetch_page(
        conn,
        ProjectRow,
        select=sql.SQL("{}, {}").format(_COLUMNS, _LEVEL),
        source=sql.SQL("projects p"),
        where=sql.SQL(_visible_filter(ownership, see_all) + " AND p.status <> 'deleting'"),
        order_by=sql.SQL("p.created_at DESC, p.id"),
        params={"user": user_id, "limit": limit, "offset": offset},
    )


_EDITABLE = frozenset({"title", "description"})


async def update_fields(conn: Conn, project_id: UUID, fields: dict[str, Any]) -> None:
    if not fields.keys() <= _EDITABLE:
        raise ValueError(f"not editable: {sorted(fields.keys() - _EDITABLE)}")
    sets = ", ".join(f"{name} = %({name})s" for name in fields)
    await conn.execute(
        f"UPDATE projects SET {sets}, updated_at = now() WHERE id = %(id)s",  # noqa: S608
        {**fields, "id": project_id},
    )


async def mark_ready(
    conn: Conn,
    project_id: UUID,
    *,
    page_count: int,
    file_size: int,
    etag: str,
    pdf_title: str | None,
) -> bool:
    """Only a pending project becomes ready; False if someone else confirmed or deleted it first."""
    cur = await conn.execute(
        "UPDATE projects SET status = 'ready', page_count = %s, file_size = %s, etag = %s, "
        "pdf_title = %s, updated_at = now() WHERE id = %s AND status = 'pending' RETURNING id",
        (page_count, file_size, etag, pdf_title, project_id),
    )
    return await cur.fetchone() is not None


async def set_status(conn: Conn, project_id: UUID, status: str) -> None:
    await conn.execute(
        "UPDATE projects SET status = %s, updated_at = now() WHERE id = %s", (status, project_id)
    )


async def delete(conn: Conn, project_id: UUID) -> None:
    """Access rows and annotations go with it (ON DELETE CASCADE), in one statement."""
    await conn.execute("DELETE FROM projects WHERE id = %s", (project_id,))
