"""SQL for annotations. Reads hand back JSON rendered by PostgreSQL: content was validated when
it was written, and parsing and re-serialising a page of large drawings in Python would hold the
event loop for seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from service.core.db import Conn, columns, fetch_count, fetch_one
from service.models.annotations import AnnotationType


@dataclass(frozen=True)
class AnnotationRow:
    id: UUID
    project_id: UUID
    author_id: UUID
    page: int
    type: AnnotationType
    content: dict[str, Any]  # validated against the type's content model on the way in
    created_at: datetime
    updated_at: datetime


_COLUMNS = columns(AnnotationRow)
_GET = sql.SQL("SELECT {} FROM annotations WHERE id = %s").format(_COLUMNS)
# One annotation as its API JSON (the `Annotation` response model, field for field).
_AS_JSON = sql.SQL(
    "json_build_object('id', a.id, 'project_id', a.project_id, 'author_id', a.author_id, "
    "'page', a.page, 'type', a.type, 'content', a.content, "
    "'created_at', a.created_at, 'updated_at', a.updated_at)"
)
# Points of a drawing, counted by PostgreSQL from the stored JSON.
_POINTS = sql.SQL(
    "coalesce((SELECT sum(jsonb_array_length(s->'points')) "
    "FROM jsonb_array_elements(a.content->'strokes') s), 0)"
)


async def create(
    conn: Conn, *, project_id: UUID, author_id: UUID, page: int, type_: str, content: str
) -> UUID:
    """`content` is the validated content as JSON text (PostgreSQL parses it, not Python)."""
    cur = await conn.execute(
        "INSERT INTO annotations (project_id, author_id, page, type, content) "
        "VALUES (%s, %s, %s, %s, %s::jsonb) RETURNING id",
        (project_id, author_id, page, type_, content),
    )
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def get(conn: Conn, annotation_id: UUID) -> AnnotationRow | None:
    return await fetch_one(conn, AnnotationRow, _GET, (annotation_id,))


async def get_json(conn: Conn, annotation_id: UUID) -> str:
    cur = await conn.execute(
        sql.SQL("SELECT {}::text AS doc FROM annotations a WHERE a.id = %s").format(_AS_JSON),
        (annotation_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return str(row["doc"])


async def list_json(
    conn: Conn, project_id: UUID, page: int | None, *, limit: int, offset: int
) -> tuple[str, int]:
    """One result page as a JSON array, and the total count."""
    where = sql.SQL(
        "a.project_id = %(project)s" + (" AND a.page = %(page)s" if page is not None else "")
    )
    params = {"project": project_id, "page": page, "limit": limit, "offset": offset}
    total = await fetch_count(
        conn, sql.SQL("SELECT count(*) FROM annotations a WHERE {}").format(where), params
    )
    query = sql.SQL(
        "SELECT coalesce(json_agg(doc ORDER BY page, created_at, id), '[]')::text AS items "
        "FROM (SELECT {} AS doc, a.page, a.created_at, a.id FROM annotations a WHERE {} "
        "ORDER BY a.page, a.created_at, a.id LIMIT %(limit)s OFFSET %(offset)s) p"
    ).format(_AS_JSON, where)
    cur = await conn.execute(query, params)
    row = await cur.fetchone()
    return (str(row["items"]) if row else "[]"), total


async def lock_page_points(
    conn: Conn, project_id: UUID, page: int, *, excluding: UUID | None = None
) -> int:
    """Points already drawn on a project's page. Takes a transaction-scoped lock on that page
    first, so two drawings can't both squeeze under the cap."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s::text || ':' || %s::text, 0))",
        (project_id, page),
    )
    cur = await conn.execute(
        sql.SQL(
            "SELECT coalesce(sum({}), 0)::bigint AS n FROM annotations a "
            "WHERE a.project_id = %s AND a.page = %s AND a.type = 'drawing' "
            "AND a.id IS DISTINCT FROM %s"
        ).format(_POINTS),
        (project_id, page, excluding),
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def update(conn: Conn, annotation_id: UUID, *, page: int, content: str | None) -> bool:
    """`content` as JSON text, or None to keep it."""
    cur = await conn.execute(
        "UPDATE annotations SET page = %s, content = coalesce(%s::jsonb, content), "
        "updated_at = now() WHERE id = %s",
        (page, content, annotation_id),
    )
    return cur.rowcount > 0


async def delete(conn: Conn, annotation_id: UUID) -> None:
    await conn.execute("DELETE FROM annotations WHERE id = %s", (annotation_id,))
