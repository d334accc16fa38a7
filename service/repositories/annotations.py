"""SQL for annotations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from service.core.db import Conn, columns, fetch_all, fetch_count, fetch_new, fetch_one
from service.models.annotations import AnnotationType


@dataclass(frozen=True)
class AnnotationRow:
    id: UUID
    project_id: UUID
    author_id: UUID
    page: int
    type: AnnotationType
    content: dict[str, Any]  # validated against the type's content model on the way out
    created_at: datetime
    updated_at: datetime


_COLUMNS = columns(AnnotationRow)
_INSERT = sql.SQL(
    "INSERT INTO annotations (project_id, author_id, page, type, content) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING {}"
).format(_COLUMNS)
_GET = sql.SQL("SELECT {} FROM annotations WHERE id = %s").format(_COLUMNS)
_UPDATE = sql.SQL(
    "UPDATE annotations SET page = %s, content = %s, updated_at = now() WHERE id = %s RETURNING {}"
).format(_COLUMNS)


async def create(
    conn: Conn, *, project_id: UUID, author_id: UUID, page: int, type_: str, content: dict
) -> AnnotationRow:
    params = (project_id, author_id, page, type_, Jsonb(content))
    return await fetch_new(conn, AnnotationRow, _INSERT, params)


async def get(conn: Conn, annotation_id: UUID) -> AnnotationRow | None:
    return await fetch_one(conn, AnnotationRow, _GET, (annotation_id,))


async def list_for_project(
    conn: Conn, project_id: UUID, page: int | None, *, limit: int, offset: int
) -> tuple[list[AnnotationRow], int]:
    where = sql.SQL(
        "project_id = %(project)s" + (" AND page = %(page)s" if page is not None else "")
    )
    params = {"project": project_id, "page": page, "limit": limit, "offset": offset}
    total = await fetch_count(
        conn, sql.SQL("SELECT count(*) FROM annotations WHERE {}").format(where), params
    )
    query = sql.SQL(
        "SELECT {} FROM annotations WHERE {} "
        "ORDER BY page, created_at, id LIMIT %(limit)s OFFSET %(offset)s"
    ).format(_COLUMNS, where)
    return await fetch_all(conn, AnnotationRow, query, params), total


async def update(
    conn: Conn, annotation_id: UUID, *, page: int, content: dict
) -> AnnotationRow | None:
    return await fetch_one(conn, AnnotationRow, _UPDATE, (page, Jsonb(content), annotation_id))


async def delete(conn: Conn, annotation_id: UUID) -> None:
    await conn.execute("DELETE FROM annotations WHERE id = %s", (annotation_id,))
