"""Loads a corpus folder into an eval database through the knowledge-base pipeline.

Books (text and PDF) go through `process_document` exactly as uploads do. The DBpedia subset is
one short document per entity, so it takes a direct path built on the same chunker and embedder.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from psycopg import sql

from devtools.seed import SEED_BOOKS
from service.core.config import Settings
from service.core.db import Conn
from service.embeddings.base import Embedder
from service.knowledge.chunker import Chunker
from service.knowledge.extracted import Block, Extracted
from service.knowledge.pipeline import policy_for, process_document
from service.knowledge.sources import CORPUS_SCHEME, SourceReader
from service.knowledge.vector_index import ensure_vector_index

DBPEDIA_SCHEME = "dbpedia:"


@dataclass
class IngestReport:
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0


def _progress(msg: str) -> None:
    print(f"  [corpus] {msg}", flush=True)


async def ingest_books(conn: Conn, settings: Settings, embedder: Embedder) -> IngestReport:
    report = IngestReport()
    started = time.perf_counter()
    reader = SourceReader(settings, None)
    for book in SEED_BOOKS:
        if not (settings.local.corpus_dir / book.path).is_file():
            _progress(f"skip {book.path} (missing)")
            continue
        await conn.execute(
            "INSERT INTO knowledge_documents (id, title, source_type, source_url, filename, "
            "is_public) VALUES (%s, %s, %s, %s, %s, true)",
            (
                book.id,
                book.title,
                book.source_type,
                CORPUS_SCHEME + book.path,
                Path(book.path).name,
            ),
        )
        result = await process_document(conn, settings, book.id, embedder=embedder, reader=reader)
        _progress(f"{book.path}: {result.status}, {result.chunks} chunks")
        report.documents += 1
        report.chunks += result.chunks
    report.seconds = time.perf_counter() - started
    return report


async def ingest_dbpedia(
    conn: Conn, settings: Settings, embedder: Embedder, limit: int | None = None
) -> IngestReport:
    path = settings.local.corpus_dir / "dbpedia-entity-subset" / "corpus.jsonl"
    report = IngestReport()
    if not path.is_file():
        _progress("skip dbpedia (missing)")
        return report
    started = time.perf_counter()
    chunker = Chunker(policy_for(settings, embedder))
    await ensure_vector_index(conn, embedder.model, embedder.dimensions)
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    entries = entries[:limit] if limit else entries
    batch: list[tuple[uuid.UUID, dict, list]] = []

    async def flush() -> None:
        texts = [c.content for _, _, chunks in batch for c in chunks]
        vectors = iter(await embedder.embed(texts))
        async with conn.transaction():
            for doc_id, entry, chunks in batch:
                await conn.execute(
                    "INSERT INTO knowledge_documents (id, title, source_type, source_url, "
                    "is_public, status, chunks_total, chunks_embedded, embedding_model, "
                    "embedding_dim) VALUES (%s, %s, 'text', %s, true, 'completed', %s, %s, %s, %s)",
                    (
                        doc_id,
                        (entry.get("title") or entry["_id"])[:300],
                        DBPEDIA_SCHEME + entry["_id"],
                        len(chunks),
                        len(chunks),
                        embedder.model,
                        embedder.dimensions,
                    ),
                )
                async with conn.cursor() as cur:
                    await cur.executemany(
                        sql.SQL(
                            "INSERT INTO document_chunks (document_id, chunk_index, content, "
                            "token_count, char_start, char_end, owner_id, is_public, "
                            "embedding_model, embedding) VALUES (%s, %s, %s, %s, %s, %s, NULL, "
                            "true, %s, %s::vector)"
                        ),
                        [
                            (
                                doc_id,
                                i,
                                c.content,
                                c.token_count,
                                c.char_start,
                                c.char_end,
                                embedder.model,
                                "[" + ",".join(f"{x:.7g}" for x in next(vectors)) + "]",
                            )
                            for i, c in enumerate(chunks)
                        ],
                    )
                report.documents += 1
                report.chunks += len(chunks)
        batch.clear()

    for n, entry in enumerate(entries, start=1):
        text = f"{entry.get('title', '')}. {entry.get('text', '')}".strip()
        chunks = chunker.chunk(Extracted([Block(text)]))
        if chunks:
            batch.append((uuid.uuid4(), entry, chunks))
        if len(batch) >= 100:
            await flush()
        if n % 1000 == 0:
            _progress(f"dbpedia {n}/{len(entries)} ({time.perf_counter() - started:.0f} s)")
    if batch:
        await flush()
    report.seconds = time.perf_counter() - started
    return report
