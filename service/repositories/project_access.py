"""SQL for project sharing rows."""

from __future__ import annotations

from uuid import UUID

from service.core.db import Conn, fetch_all
from service.models.projects import AccessEntry  # an entry row is exactly its response


async def upsert(conn: Conn, project_id: UUID, user_id: UUID, level: str, granted_by: UUID) -> None:
    await conn.execute(
        "INSERT INTO project_access (project_id, user_id, level, granted_by) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (project_id, user_id) DO UPDATE "
        "SET level = EXCLUDED.level, granted_by = EXCLUDED.granted_by, updated_at = now()",
        (project_id, user_id, level, granted_by),
    )


async def list_for_project(conn: Conn, project_id: UUID) -> list[AccessEntry]:
    """The owner first (as level 'owner'), then grants, oldest first."""
    return await fetch_all(
        conn,
        AccessEntry,
        "SELECT user_id, email, display_name, level, granted_by, created_at FROM ("
        "SELECT u.id AS user_id, u.email, u.display_name, 'owner' AS level, "
        "NULL::uuid AS granted_by, p.created_at, 0 AS ord "
        "FROM projects p JOIN users u ON u.id = p.owner_id WHERE p.id = %(id)s "
        "UNION ALL "
        "SELECT u.id, u.email, u.display_name, a.level, a.granted_by, a.created_at, 1 "
        "FROM project_access a JOIN users u ON u.id = a.user_id WHERE a.project_id = %(id)s"
        ") entries ORDER BY ord, created_at",
        {"id": project_id},
    )


async def delete(conn: Conn, project_id: UUID, user_id: UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM project_access WHERE project_id = %s AND user_id = %s RETURNING user_id",
        (project_id, user_id),
    )
    return await cur.fetchone() is not None
