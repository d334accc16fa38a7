"""SQL for annotations."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from service.core.db import Conn

_COLUMNS = "id, project_id, author_id, page, type, content, created_at, updated_at"


async def create(
    conn: Conn, *, project_id: UUID, author_id: UUID, page: int, type_: str, content: dict
) -> dict[str, Any]:
    cur = await conn.execute(
        f"INSERT INTO annotations (project_id, author_id, page, type, content) "  # noqa: S608
        f"VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (project_id, author_id, page, type_, Jsonb(content)),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get(conn: Conn, annotation_id: UUID) -> dict[str, Any] | None:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM annotations WHERE id = %s", (annotation_id,))  # noqa: S608
    return await cur.fetchone()


async def list_for_project(
    conn: Conn, project_id: UUID, page: int | None, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    where = "project_id = %(project)s" + (" AND page = %(page)s" if page is not None else "")
    params = {"project": project_id, "page": page, "limit": limit, "offset": offset}
    cur = await conn.execute(f"SELECT count(*) AS n FROM annotations WHERE {where}", params)  # noqa: S608
    total = await cur.fetchone()
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM annotations WHERE {where} "  # noqa: S608
        "ORDER BY page, created_at, id LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    return await cur.fetchall(), int(total["n"] if total else 0)


async def update(
    conn: Conn, annotation_id: UUID, *, page: int, content: dict
) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"UPDATE annotations SET page = %s, content = %s, updated_at = now() "  # noqa: S608
        f"WHERE id = %s RETURNING {_COLUMNS}",
        (page, Jsonb(content), annotation_id),
    )
    return await cur.fetchone()


async def delete(conn: Conn, annotation_id: UUID) -> None:
    await conn.execute("DELETE FROM annotations WHERE id = %s", (annotation_id,))
