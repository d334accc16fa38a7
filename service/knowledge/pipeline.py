"""One processing run: extract, chunk, embed in batches into staging, then swap in atomically."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID, uuid4

from service.core.config import Settings
from service.core.db import Conn
from service.embeddings import Embedder, EmbeddingError
from service.knowledge.chunker import Chunk, Chunker, ChunkingPolicy
from service.knowledge.extracted import ExtractionError
from service.knowledge.sources import SourceReader
from service.knowledge.vector_index import ensure_vector_index
from service.repositories import knowledge as repo

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Deadline:
    """The run's time limit, applied to the slow steps (parse, chunk, embed) and not to the short
    SQL statements between them, which are never cancelled half way."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    async def within(self, step: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(step, max(0.0, self._at - time.monotonic()))
        except TimeoutError as exc:
            raise ExtractionError(
                "processing_timeout",
                f"Processing took longer than {self.seconds:g} s and was stopped; "
                "split the document or contact an admin.",
            ) from exc


@dataclass(frozen=True)
class RunResult:
    status: str
    chunks: int = 0
    pages: int | None = None
    seconds: float = 0.0
    embed_seconds: float = 0.0


def policy_for(settings: Settings, embedder: Embedder) -> ChunkingPolicy:
    return ChunkingPolicy(
        chunk_tokens=settings.ingest.chunk_tokens,
        overlap_tokens=settings.ingest.chunk_overlap_tokens,
        model_max_tokens=embedder.max_tokens,
        count_model_tokens=embedder.count_tokens,
    )


async def process_document(
    conn: Conn,
    settings: Settings,
    document_id: UUID,
    *,
    embedder: Embedder,
    reader: SourceReader,
) -> RunResult:
    """Idempotent: a retried run claims the document afresh and discards older staging rows."""
    started = time.perf_counter()
    run_id = uuid4()
    doc = await repo.begin_run(conn, document_id, run_id)
    if doc is None:
        log.info("document gone before processing", extra={"document_id": str(document_id)})
        return RunResult("missing")
    deadline = _Deadline(settings.ingest_limits.job_timeout_seconds)
    try:
        extracted = await deadline.within(reader.extract(doc))
        # Linear in the text, but seconds for megabytes: off the loop, so heartbeats keep going.
        chunker = Chunker(policy_for(settings, embedder))
        chunks = await deadline.within(asyncio.to_thread(chunker.chunk, extracted))
        if not chunks:
            raise ExtractionError("empty_document", "No text was found to index.")
        await repo.set_total(conn, document_id, run_id, len(chunks))
        await ensure_vector_index(conn, embedder.model, embedder.dimensions)
        embed_seconds = 0.0
        step = settings.ingest.chunk_insert_batch
        for i in range(0, len(chunks), step):
            batch: list[Chunk] = chunks[i : i + step]
            t0 = time.perf_counter()
            vectors = await deadline.within(embedder.embed([c.content for c in batch]))
            embed_seconds += time.perf_counter() - t0
            if not await repo.stage_chunks(
                conn, document_id, run_id, embedder.model, batch, vectors
            ):
                return RunResult("superseded")
        if not await repo.publish_run(
            conn, document_id, run_id, embedder.model, embedder.dimensions, extracted.page_count
        ):
            return RunResult("superseded")
    except (ExtractionError, EmbeddingError) as exc:
        log.warning(
            "document processing failed",
            extra={"document_id": str(document_id), "code": exc.code},
        )
        await repo.fail_run(conn, document_id, run_id, exc.code, exc.message)
        return RunResult("failed", seconds=time.perf_counter() - started)
    except Exception as exc:
        log.exception("document processing crashed", extra={"document_id": str(document_id)})
        await repo.fail_run(
            conn, document_id, run_id, "processing_error", f"Unexpected error: {type(exc).__name__}"
        )
        raise
    elapsed = time.perf_counter() - started
    log.info(
        "document processed",
        extra={"document_id": str(document_id), "chunks": len(chunks), "seconds": elapsed},
    )
    return RunResult("completed", len(chunks), extracted.page_count, elapsed, embed_seconds)
