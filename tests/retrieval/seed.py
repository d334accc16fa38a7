"""Plants documents and chunks straight into the knowledge tables (as an ingestion run would)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg

from service.embeddings.factory import LOCAL_DEFAULT_MODEL

MODEL = LOCAL_DEFAULT_MODEL


def vec_literal(v: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in v) + "]"


def add_document(
    conn: psycopg.Connection,
    *,
    owner_id: str | None,
    is_public: bool,
    title: str,
    chunks: Sequence[tuple[str, Sequence[float]]],
    source_type: str = "pdf",
    source_url: str | None = None,
    first_page: int = 1,
    model: str = MODEL,
) -> str:
    doc_id = str(uuid.uuid4())
    with conn.transaction():
        conn.execute(
            "INSERT INTO knowledge_documents (id, owner_id, title, source_type, source_url, "
            "is_public, status, embedding_model) VALUES (%s, %s, %s, %s, %s, %s, 'completed', %s)",
            (doc_id, owner_id, title, source_type, source_url, is_public, model),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO document_chunks (document_id, chunk_index, content, token_count, "
                "char_start, char_end, page_start, page_end, start_seconds, owner_id, is_public, "
                "embedding_model, embedding) VALUES (%s, %s, %s, %s, 0, %s, %s, %s, %s, %s, %s, "
                "%s, %s::vector)",
                [
                    (
                        doc_id,
                        i,
                        text,
                        len(text.split()),
                        len(text),
                        first_page + i if source_type == "pdf" else None,
                        first_page + i if source_type == "pdf" else None,
                        float(i * 30) if source_type == "youtube" else None,
                        owner_id,
                        is_public,
                        model,
                        vec_literal(v),
                    )
                    for i, (text, v) in enumerate(chunks)
                ],
            )
    return doc_id


def delete_document(conn: psycopg.Connection, doc_id: str) -> None:
    conn.execute("DELETE FROM knowledge_documents WHERE id = %s", (doc_id,))
