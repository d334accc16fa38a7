"""SQL for knowledge documents and their chunks (live table plus per-run staging)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString
from uuid import UUID

from psycopg import sql

from service.access.scope import AccessScope
from service.core.db import Conn, columns, fetch_new, fetch_one, fetch_page
from service.knowledge.chunker import Chunk
from service.models.knowledge import ProcessingState, SourceType


@dataclass(frozen=True)
class DocumentRow:
    id: UUID
    owner_id: UUID | None  # None: a platform document, managed by admins
    created_by: UUID | None
    title: str
    source_type: SourceType
    source_url: str | None
    filename: str | None
    storage_key: str | None
    is_public: bool
    status: ProcessingState
    error_code: str | None
    error_message: str | None
    chunks_total: int
    chunks_embedded: int
    page_count: int | None
    embedding_model: str | None
    embedding_dim: int | None
    processing_started_at: datetime | None
    processing_finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
    processing_run_id: UUID | None
    publication: str  # private | pending_review | public | rejected
    publication_requested_at: datetime | None
    publication_reviewed_at: datetime | None
    publication_note: str | None


_COLUMNS = columns(DocumentRow)
_INSERT = sql.SQL(
    "INSERT INTO knowledge_documents (id, owner_id, created_by, title, source_type, "
    "source_url, filename, storage_key, is_public, publication, publication_requested_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
    "CASE WHEN %s::text = 'pending_review' THEN now() END) RETURNING {}"
).format(_COLUMNS)
_GET = sql.SQL("SELECT {} FROM knowledge_documents WHERE id = %s").format(_COLUMNS)
_CLAIM = sql.SQL(
    "UPDATE knowledge_documents SET status = 'processing', processing_run_id = %s, "
    "processing_started_at = now(), processing_finished_at = NULL, error_code = NULL, "
    "error_message = NULL, chunks_total = 0, chunks_embedded = 0, updated_at = now() "
    "WHERE id = %s RETURNING {}"
).format(_COLUMNS)


async def create(
    conn: Conn,
    *,
    document_id: UUID,
    owner_id: UUID | None,
    created_by: UUID | None,
    title: str,
    source_type: str,
    source_url: str | None,
    filename: str | None,
    storage_key: str | None,
    publication: str,
) -> DocumentRow:
    return await fetch_new(
        conn,
        DocumentRow,
        _INSERT,
        (
            document_id,
            owner_id,
            created_by,
            title,
            source_type,
            source_url,
            filename,
            storage_key,
            publication == "public",
            publication,
            publication,
        ),
    )


async def _page(
    conn: Conn, where: sql.Composable, order_by: LiteralString, params: dict[str, Any]
) -> tuple[list[DocumentRow], int]:
    return await fetch_page(
        conn,
        DocumentRow,
        select=_COLUMNS,
        source=sql.SQL("knowledge_documents"),
        where=where,
        order_by=sql.SQL(order_by),
        params=params,
    )


async def get(conn: Conn, document_id: UUID) -> DocumentRow | None:
    return await fetch_one(conn, DocumentRow, _GET, (document_id,))


async def list_visible(
    conn: Conn, scope: AccessScope, limit: int, offset: int
) -> tuple[list[DocumentRow], int]:
    return await _page(conn, scope.sql(), "created_at DESC, id", {"limit": limit, "offset": offset})


async def set_publication(
    conn: Conn,
    document_id: UUID,
    publication: str,
    *,
    reviewer: UUID | None = None,
    note: str | None = None,
) -> DocumentRow | None:
    """Moves the document (and its chunks, which search reads) in one transaction."""
    public = publication == "public"
    async with conn.transaction():
        row = await fetch_one(
            conn,
            DocumentRow,
            sql.SQL(
                "UPDATE knowledge_documents SET publication = %(p)s, is_public = %(public)s, "
                "publication_requested_at = CASE WHEN %(p)s::text = 'pending_review' THEN now() "
                "  ELSE publication_requested_at END, "
                "publication_reviewed_at = CASE WHEN %(reviewer)s::uuid IS NOT NULL THEN now() "
                "  ELSE publication_reviewed_at END, "
                "publication_reviewed_by = coalesce(%(reviewer)s::uuid, publication_reviewed_by), "
                "publication_note = %(note)s, updated_at = now() "
                "WHERE id = %(id)s RETURNING {}"
            ).format(_COLUMNS),
            {
                "p": publication,
                "public": public,
                "reviewer": reviewer,
                "note": note,
                "id": document_id,
            },
        )
        if row is not None:
            await conn.execute(
                "UPDATE document_chunks SET is_public = %s WHERE document_id = %s "
                "AND is_public <> %s",
                (public, document_id, public),
            )
    return row


async def list_by_publication(
    conn: Conn, publication: str, limit: int, offset: int
) -> tuple[list[DocumentRow], int]:
    """Oldest request first: the review queue."""
    return await _page(
        conn,
        sql.SQL("publication = %(p)s"),
        "publication_requested_at NULLS LAST, created_at, id",
        {"p": publication, "limit": limit, "offset": offset},
    )


async def delete(conn: Conn, document_id: UUID) -> None:
    """Chunks and staging rows go with it (ON DELETE CASCADE)."""
    await conn.execute("DELETE FROM knowledge_documents WHERE id = %s", (document_id,))


async def mark_queued(conn: Conn, document_id: UUID) -> None:
    await conn.execute(
        "UPDATE knowledge_documents SET status = 'pending', error_code = NULL, "
        "error_message = NULL, processing_finished_at = NULL, updated_at = now() "
        "WHERE id = %s AND status <> 'processing'",
        (document_id,),
    )


# --- processing runs -------------------------------------------------------------------


async def begin_run(conn: Conn, document_id: UUID, run_id: UUID) -> DocumentRow | None:
    """Claims the document for this run and drops staging rows of any earlier, dead run."""
    async with conn.transaction():
        row = await fetch_one(conn, DocumentRow, _CLAIM, (run_id, document_id))
        if row is not None:
            await conn.execute(
                "DELETE FROM document_chunks_staging WHERE document_id = %s", (document_id,)
            )
    return row


async def set_total(conn: Conn, document_id: UUID, run_id: UUID, total: int) -> None:
    await conn.execute(
        "UPDATE knowledge_documents SET chunks_total = %s, updated_at = now() "
        "WHERE id = %s AND processing_run_id = %s",
        (total, document_id, run_id),
    )


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


async def stage_chunks(
    conn: Conn,
    document_id: UUID,
    run_id: UUID,
    model: str,
    chunks: Sequence[Chunk],
    vectors: Sequence[Sequence[float]],
) -> bool:
    """One transaction per batch; returns False when the run lost the document (stop work)."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT 1 FROM knowledge_documents WHERE id = %s AND processing_run_id = %s FOR UPDATE",
            (document_id, run_id),
        )
        if await cur.fetchone() is None:
            return False
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO document_chunks_staging (run_id, document_id, chunk_index, content, "
                "token_count, char_start, char_end, page_start, page_end, start_seconds, "
                "end_seconds, section, embedding_model, embedding) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector) "
                "ON CONFLICT (run_id, chunk_index) DO NOTHING",
                [
                    (
                        run_id,
                        document_id,
                        ch.index,
                        ch.content,
                        ch.token_count,
                        ch.char_start,
                        ch.char_end,
                        ch.page_start,
                        ch.page_end,
                        ch.start_seconds,
                        ch.end_seconds,
                        ch.section,
                        model,
                        vector_literal(vec),
                    )
                    for ch, vec in zip(chunks, vectors, strict=True)
                ],
            )
        await conn.execute(
            "UPDATE knowledge_documents SET chunks_embedded = ("
            " SELECT count(*) FROM document_chunks_staging WHERE run_id = %s), updated_at = now() "
            "WHERE id = %s",
            (run_id, document_id),
        )
    return True


async def publish_run(
    conn: Conn,
    document_id: UUID,
    run_id: UUID,
    model: str,
    dim: int,
    page_count: int | None,
) -> bool:
    """The atomic swap: readers see the old chunks or the new ones, never a mix."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT owner_id, is_public FROM knowledge_documents "
            "WHERE id = %s AND processing_run_id = %s FOR UPDATE",
            (document_id, run_id),
        )
        doc = await cur.fetchone()
        if doc is None:
            return False
        await conn.execute("DELETE FROM document_chunks WHERE document_id = %s", (document_id,))
        await conn.execute(
            "INSERT INTO document_chunks (document_id, chunk_index, content, token_count, "
            "char_start, char_end, page_start, page_end, start_seconds, end_seconds, section, "
            "owner_id, is_public, embedding_model, embedding) "
            "SELECT document_id, chunk_index, content, token_count, char_start, char_end, "
            "page_start, page_end, start_seconds, end_seconds, section, %s, %s, "
            "embedding_model, embedding FROM document_chunks_staging WHERE run_id = %s "
            "ORDER BY chunk_index",
            (doc["owner_id"], doc["is_public"], run_id),
        )
        await conn.execute(
            "DELETE FROM document_chunks_staging WHERE document_id = %s", (document_id,)
        )
        await conn.execute(
            "UPDATE knowledge_documents SET status = 'completed', processing_run_id = NULL, "
            "processing_finished_at = now(), chunks_embedded = chunks_total, "
            "embedding_model = %s, embedding_dim = %s, page_count = %s, updated_at = now() "
            "WHERE id = %s",
            (model, dim, page_count, document_id),
        )
    return True


async def fail_run(conn: Conn, document_id: UUID, run_id: UUID, code: str, message: str) -> None:
    async with conn.transaction():
        await conn.execute(
            "UPDATE knowledge_documents SET status = 'failed', error_code = %s, "
            "error_message = %s, processing_run_id = NULL, processing_finished_at = now(), "
            "updated_at = now() WHERE id = %s AND processing_run_id = %s",
            (code, message[:2000], document_id, run_id),
        )
        await conn.execute("DELETE FROM document_chunks_staging WHERE run_id = %s", (run_id,))


async def abandon(conn: Conn, document_id: UUID, code: str, message: str) -> bool:
    """Fails the document whatever run holds it (that run's worker is gone); False if it is
    no longer processing (deleted, or finished by a run that did survive)."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE knowledge_documents SET status = 'failed', error_code = %s, "
            "error_message = %s, processing_run_id = NULL, processing_finished_at = now(), "
            "updated_at = now() WHERE id = %s AND status IN ('pending', 'processing')",
            (code, message[:2000], document_id),
        )
        await conn.execute(
            "DELETE FROM document_chunks_staging WHERE document_id = %s", (document_id,)
        )
    return cur.rowcount > 0
