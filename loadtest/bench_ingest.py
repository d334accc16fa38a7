"""`make bench-ingest`: ingest the shared corpus and record throughput figures.

Runs the real pipeline (extract, chunk, embed with the configured provider, staged inserts,
atomic swap) in-process against PostgreSQL (DATABASE_URL, or a throwaway embedded server).
Writes loadtest/results/bench-ingest-<timestamp>.json and appends a row to bench-ingest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from devtools.figures import append_run, record
from devtools.postgres import benchmark_database
from devtools.seed import SEED_BOOKS
from service.core.config import REPO_ROOT, Settings
from service.embeddings import get_embedder
from service.knowledge.pipeline import process_document
from service.knowledge.sources import CORPUS_SCHEME, SourceReader

RESULTS = REPO_ROOT / "loadtest" / "results"


async def bench(settings: Settings, url: str) -> dict[str, Any]:
    embedder = get_embedder(settings)
    t0 = time.perf_counter()
    await embedder.embed(["warm up"])  # loads the local model outside the timed part
    load_seconds = time.perf_counter() - t0
    reader = SourceReader(settings, None)
    docs: list[dict[str, Any]] = []
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(
            "DELETE FROM knowledge_documents WHERE id = ANY(%s)", ([b.id for b in SEED_BOOKS],)
        )
        started = time.perf_counter()
        for book in SEED_BOOKS:
            await conn.execute(
                "INSERT INTO knowledge_documents (id, title, source_type, source_url, is_public) "
                "VALUES (%s, %s, %s, %s, true)",
                (book.id, book.title, book.source_type, CORPUS_SCHEME + book.path),
            )
            result = await process_document(
                conn, settings, book.id, embedder=embedder, reader=reader
            )
            if result.status != "completed":
                raise SystemExit(f"{book.path}: {result.status}")
            docs.append(
                {
                    "path": book.path,
                    "source_type": book.source_type,
                    "chunks": result.chunks,
                    "pages": result.pages,
                    "seconds": round(result.seconds, 3),
                    "embed_seconds": round(result.embed_seconds, 3),
                }
            )
            print(f"  {book.path}: {result.chunks} chunks in {result.seconds:.1f}s", flush=True)
        total = time.perf_counter() - started
    chunks = sum(d["chunks"] for d in docs)
    pdf_pages = sum(d["pages"] or 0 for d in docs)
    pdf_seconds = sum(d["seconds"] for d in docs if d["pages"])
    embed_seconds = sum(d["embed_seconds"] for d in docs)
    return {
        "provider": settings.embedding.provider,
        "model": embedder.model,
        "dimensions": embedder.dimensions,
        "batch_size": settings.embedding.batch_size,
        "documents": len(docs),
        "chunks": chunks,
        "pdf_pages": pdf_pages,
        "total_seconds": round(total, 2),
        "model_load_seconds": round(load_seconds, 2),
        "pages_per_second": round(pdf_pages / pdf_seconds, 2) if pdf_seconds else None,
        "chunks_per_second": round(chunks / total, 2),
        "embeddings_per_second": round(chunks / embed_seconds, 2) if embed_seconds else None,
        "per_document": docs,
    }


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m loadtest.bench_ingest").parse_args(argv)
    settings = Settings()
    if not settings.local.corpus_dir.is_dir():
        print(f"no corpus at {settings.local.corpus_dir} (set CORPUS_DIR)", file=sys.stderr)
        return 2
    url, database = benchmark_database(Path(tempfile.mkdtemp(prefix="bench-ingest-")))
    print(f"==> ingesting {len(SEED_BOOKS)} corpus documents ({settings.embedding.provider})")
    figures = asyncio.run(bench(settings, url))
    command = "make bench-ingest"
    run = record("ingest", command, "loadtest.bench_ingest", [], database=database, **figures)
    print(json.dumps({k: v for k, v in run.items() if k != "per_document"}, indent=2))
    append_run(
        RESULTS,
        "bench-ingest",
        run,
        "| timestamp | provider | chunks | pdf pages/s | chunks/s | embeddings/s | total s | command |\n"
        "|---|---|---|---|---|---|---|---|\n",
        f"| {run['timestamp']} | {figures['provider']} | {figures['chunks']} | "
        f"{figures['pages_per_second']} | {figures['chunks_per_second']} | "
        f"{figures['embeddings_per_second']} | {figures['total_seconds']} | `{command}` |\n",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
