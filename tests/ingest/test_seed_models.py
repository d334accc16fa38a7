"""`make up` after the default local model changed: demo books are re-embedded, others named."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from psycopg.rows import dict_row

from devtools.seed import SEED_BOOKS, reembed_stale
from service.knowledge.queue import QueueClient
from tests.ingest.documents import platform_document

OLD, NEW = (
    "sentence-transformers/all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2-onnx-int8",
)


def test_demo_books_embedded_with_another_model_are_queued_again(clean_db: str) -> None:
    async def run() -> tuple[list[uuid.UUID], int, list[str]]:
        async with await psycopg.AsyncConnection.connect(
            clean_db, autocommit=True, row_factory=dict_row
        ) as conn:
            docs = [
                (SEED_BOOKS[0].id, OLD),  # demo book, old model: re-queued
                (SEED_BOOKS[1].id, NEW),  # demo book, current model: left alone
                (uuid.uuid4(), OLD),  # someone's document, old model: only reported
            ]
            for doc_id, model in docs:
                await platform_document(conn, "text", str(doc_id), document_id=doc_id)
                await conn.execute(
                    "UPDATE knowledge_documents SET status = 'completed', embedding_model = %s "
                    "WHERE id = %s",
                    (model, doc_id),
                )
            queue = QueueClient(clean_db)
            try:
                demo, others = await reembed_stale(conn, queue, NEW)
            finally:
                await queue.close()
            cur = await conn.execute("SELECT args->>'document_id' AS doc FROM procrastinate_jobs")
            return demo, others, [r["doc"] for r in await cur.fetchall()]

    demo, others, jobs = asyncio.run(run())
    assert demo == [SEED_BOOKS[0].id]
    assert others == 1
    assert jobs == [str(SEED_BOOKS[0].id)]
