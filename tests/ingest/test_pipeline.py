"""The processing run against real PostgreSQL: page-accurate chunks, failures, atomic swaps."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from service.core.config import Settings
from service.embeddings import Embedder
from service.embeddings.factory import LOCAL_DEFAULT_MODEL, build_embedder
from service.knowledge.pipeline import process_document
from service.knowledge.sources import CORPUS_SCHEME, SourceReader
from service.repositories import knowledge as repo
from service.repositories.knowledge import DocumentRow
from tests.conftest import CORPUS_DIR
from tests.ingest.documents import platform_document
from tests.ingest.fake_workers_ai import FakeWorkersAI

PDF = "cooke-1913-scans-pdf/cooke_1913_pp003-040_scans_textlayer.pdf"
SCAN = "cooke-1913-scans-pdf/cooke_1913_pp003-040_scans_imageonly.pdf"


async def _connect(url: str) -> psycopg.AsyncConnection[dict[str, Any]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def _make_doc(conn: Any, path: str, source_type: str) -> uuid.UUID:
    return await platform_document(conn, source_type, path, source_url=CORPUS_SCHEME + path)


def _reader(settings: Settings) -> SourceReader:
    return SourceReader(settings.model_copy(update={"corpus_dir": CORPUS_DIR}), None)


def test_pdf_is_processed_with_page_numbers_matching_ground_truth(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI
) -> None:
    bge = settings.model_copy(update=fake_ai.settings_overrides())
    embedder = build_embedder(bge)
    truth = {
        row["pdf_page_index"]: re.sub(r"\s+", " ", row["text"])
        for row in map(
            json.loads,
            (CORPUS_DIR / "cooke-1913-scans-pdf/page_text.jsonl").read_text().splitlines(),
        )
    }

    async def run() -> tuple[DocumentRow, list[dict[str, Any]], int]:
        async with await _connect(clean_db) as conn:
            doc_id = await _make_doc(conn, PDF, "pdf")
            result = await process_document(
                conn, bge, doc_id, embedder=embedder, reader=_reader(bge)
            )
            assert result.status == "completed", result
            doc = await repo.get(conn, doc_id)
            cur = await conn.execute(
                "SELECT chunk_index, content, page_start, page_end, embedding_model, "
                "vector_dims(embedding) AS dims, is_public, owner_id "
                "FROM document_chunks WHERE document_id = %s ORDER BY chunk_index",
                (doc_id,),
            )
            rows = await cur.fetchall()
            staged = await (
                await conn.execute("SELECT count(*) AS n FROM document_chunks_staging")
            ).fetchone()
            assert doc is not None and staged is not None
            return doc, rows, staged["n"]

    doc, rows, staged = asyncio.run(run())
    assert doc.status == "completed"
    assert doc.page_count == 38
    assert doc.chunks_total == doc.chunks_embedded == len(rows) > 30
    assert doc.embedding_model == "@cf/baai/bge-base-en-v1.5"
    assert doc.embedding_dim == 768
    assert staged == 0
    assert [r["chunk_index"] for r in rows] == list(range(len(rows)))
    for r in rows:
        assert r["dims"] == 768 and r["is_public"] and r["owner_id"] is None
        pages = range(r["page_start"], r["page_end"] + 1)
        words = [w for w in re.sub(r"\s+", " ", r["content"]).split(" ") if len(w) > 12]
        assert all(any(w in truth[p] for p in pages) for w in words)


def test_image_only_pdf_fails_with_no_text_layer(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI
) -> None:
    bge = settings.model_copy(update=fake_ai.settings_overrides())

    async def run() -> DocumentRow | None:
        async with await _connect(clean_db) as conn:
            doc_id = await _make_doc(conn, SCAN, "pdf")
            result = await process_document(
                conn, bge, doc_id, embedder=build_embedder(bge), reader=_reader(bge)
            )
            assert result.status == "failed"
            return await repo.get(conn, doc_id)

    doc = asyncio.run(run())
    assert doc is not None
    assert doc.status == "failed"
    assert doc.error_code == "no_text_layer"
    assert doc.processing_finished_at is not None


class _WatchingEmbedder:
    """Wraps the real model; while a reprocess is half way, records what readers see."""

    def __init__(self, inner: Embedder, url: str, doc_id: uuid.UUID) -> None:
        self.inner = inner
        self.model, self.dimensions, self.max_tokens = (
            inner.model,
            inner.dimensions,
            inner.max_tokens,
        )
        self.url, self.doc_id = url, doc_id
        self.calls = 0
        self.seen_live: list[int] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls > 1:
            async with await _connect(self.url) as other:
                cur = await other.execute(
                    "SELECT count(*) AS n, min(created_at) AS t FROM document_chunks "
                    "WHERE document_id = %s",
                    (self.doc_id,),
                )
                row = await cur.fetchone()
                assert row is not None
                self.seen_live.append(row["n"])
        return await self.inner.embed(texts)


def test_reprocessing_swaps_chunks_atomically(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI
) -> None:
    small = settings.model_copy(update={"chunk_insert_batch": 10, **fake_ai.settings_overrides()})
    embedder = build_embedder(small)

    async def run() -> tuple[int, _WatchingEmbedder, int, int]:
        async with await _connect(clean_db) as conn:
            doc_id = await _make_doc(conn, PDF, "pdf")
            first = await process_document(
                conn, small, doc_id, embedder=embedder, reader=_reader(small)
            )
            watcher = _WatchingEmbedder(embedder, clean_db, doc_id)
            second = await process_document(
                conn, small, doc_id, embedder=watcher, reader=_reader(small)
            )
            assert second.status == "completed"
            cur = await conn.execute(
                "SELECT count(*) AS n, count(DISTINCT chunk_index) AS d FROM document_chunks "
                "WHERE document_id = %s",
                (doc_id,),
            )
            row = await cur.fetchone()
            assert row is not None
            return first.chunks, watcher, row["n"], row["d"]

    old_count, watcher, n, distinct = asyncio.run(run())
    assert watcher.calls > 2, "the reprocess ran in several batches"
    # While new batches were staged, readers saw the whole old document, never a mix.
    assert watcher.seen_live and all(seen == old_count for seen in watcher.seen_live)
    assert n == distinct == old_count


def test_local_model_run_stores_its_model_and_sections(
    clean_db: str, settings: Settings, local_embedder: Embedder, tmp_path: Path
) -> None:
    """The default provider end to end, on a short Markdown note (the model is slow on CPU)."""
    note = tmp_path / "notes" / "practice.md"
    note.parent.mkdir()
    note.write_text(
        "# Scales\n\nPlay scales slowly with an even tone. Keep the wrist loose.\n\n"
        "# Arpeggios\n\nLet the thumb pass under smoothly. Listen to every note.\n"
    )
    local = settings.model_copy(update={"corpus_dir": tmp_path})

    async def run() -> list[dict[str, Any]]:
        async with await _connect(clean_db) as conn:
            doc_id = await _make_doc(conn, "notes/practice.md", "text")
            reader = SourceReader(local, None)
            result = await process_document(
                conn, local, doc_id, embedder=local_embedder, reader=reader
            )
            assert result.status == "completed", result
            cur = await conn.execute(
                "SELECT section, embedding_model, vector_dims(embedding) AS dims, "
                "embedding::vector(384) <=> embedding::vector(384) AS self_distance "
                "FROM document_chunks WHERE document_id = %s ORDER BY chunk_index",
                (doc_id,),
            )
            return await cur.fetchall()

    rows = asyncio.run(run())
    assert rows
    assert {r["embedding_model"] for r in rows} == {LOCAL_DEFAULT_MODEL}
    assert {r["dims"] for r in rows} == {384}
    assert rows[0]["section"] == "Scales"
    assert rows[0]["self_distance"] == pytest.approx(0.0, abs=1e-6)
