"""`python -m devtools.evals --queries FILE [--queries FILE ...] [--corpus DIR] [--k 10] [--ann]`

Ingests the corpus into an isolated database (embedded server under .local/eval unless
EVAL_DATABASE_URL names a server), runs the query files, optionally the 100k ANN study, and
writes JSON + Markdown (+ PNG) under loadtest/results/eval-<timestamp>/.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from devtools import REPO_ROOT
from devtools.evals import eval_server, report
from devtools.evals.candidate import CandidateEmbedder
from devtools.evals.corpus import IngestReport, ingest_books, ingest_dbpedia
from devtools.evals.querysets import SHIPPED
from devtools.evals.retrieval_eval import evaluate_files
from devtools.evals.variants import VARIANTS
from devtools.postgres import create_scratch_database, database_url
from service.core.config import Settings
from service.embeddings.factory import get_embedder


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devtools.evals", description=__doc__)
    p.add_argument("--queries", type=Path, action="append", help="JSONL query file (repeatable)")
    p.add_argument("--all", action="store_true", help="shipped query sets + ANN study (make eval)")
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default CORPUS_DIR)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ann", action="store_true", help="run the ANN recall/latency study")
    p.add_argument(
        "--chunking",
        action="store_true",
        help="today's chunks against small windows returning parents (devtools/evals/chunking.py)",
    )
    p.add_argument("--ann-rows", type=int, default=100_000)
    p.add_argument("--ann-queries", type=int, default=100)
    p.add_argument("--no-dbpedia", action="store_true", help="skip ingesting the DBpedia subset")
    p.add_argument("--no-books", action="store_true", help="skip ingesting the books")
    p.add_argument("--db-name", default="eval_corpus", help="name of the isolated database")
    p.add_argument(
        "--reuse-corpus", action="store_true", help="use the already ingested --db-name as is"
    )
    p.add_argument(
        "--candidate-model",
        type=Path,
        default=None,
        help="a sentence-transformers model directory to evaluate instead of the configured "
        "embedder (quality only; devtools/evals/candidate.py)",
    )
    p.add_argument(
        "--variant",
        choices=VARIANTS,
        default="hybrid",
        help="retriever for the labelled sets (devtools/evals/variants.py)",
    )
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--threads", type=int, default=2, help="torch threads for corpus embedding")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    if args.corpus:
        settings = settings.model_copy(update={"corpus_dir": args.corpus})
    files: list[Path] = list(args.queries or [])
    if args.all:
        files = files or [f for f in SHIPPED if not (args.no_dbpedia and "dbpedia" in f.name)]
        args.ann = True
    server = eval_server(settings.local_dir)
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m devtools.evals " + " ".join(sys.argv[1:]),
        "corpus_dir": str(settings.local.corpus_dir),
    }
    embedder = (
        CandidateEmbedder(args.candidate_model) if args.candidate_model else get_embedder(settings)
    )
    if args.chunking:
        from devtools.evals.chunking import chunking_study

        if hasattr(embedder, "load"):
            await asyncio.to_thread(embedder.load)
        chosen = files or [f for f in SHIPPED if "dbpedia" not in f.name]
        results["chunking"] = await chunking_study(settings, embedder, server, chosen)
        return results
    if args.reuse_corpus:
        db_url = database_url(server, args.db_name)
        return await evaluate(args, settings, embedder, db_url, files, server, results)
    print(f"==> corpus {settings.local.corpus_dir} -> isolated database {args.db_name}", flush=True)
    db_url = create_scratch_database(server, args.db_name)
    if hasattr(embedder, "load"):
        await asyncio.to_thread(embedder.load)
        import torch

        torch.set_num_threads(max(1, args.threads))
    started = time.perf_counter()
    async with await psycopg.AsyncConnection.connect(
        db_url, autocommit=True, row_factory=dict_row
    ) as conn:
        books = IngestReport() if args.no_books else await ingest_books(conn, settings, embedder)
        needs_dbpedia = not args.no_dbpedia and (
            args.all or any("dbpedia" in f.name for f in files)
        )
        dbp = await ingest_dbpedia(conn, settings, embedder) if needs_dbpedia else None
        await conn.execute("ANALYZE")
    results["corpus"] = {
        "documents": books.documents + (dbp.documents if dbp else 0),
        "chunks": books.chunks + (dbp.chunks if dbp else 0),
        "model": embedder.model,
        "seconds": time.perf_counter() - started,
    }
    print(
        f"    {results['corpus']['chunks']} chunks in {results['corpus']['seconds']:.0f} s",
        flush=True,
    )
    return await evaluate(args, settings, embedder, db_url, files, server, results)


async def evaluate(
    args: argparse.Namespace,
    settings: Settings,
    embedder: Any,
    db_url: str,
    files: list[Path],
    server: str,
    results: dict[str, Any],
) -> dict[str, Any]:
    if files:
        print("==> labelled queries", flush=True)
        results["queries"] = await evaluate_files(
            db_url, settings, embedder, files, args.k, args.variant
        )
    if args.ann:
        from devtools.evals.ann import ann_study

        print(f"==> ANN study at {args.ann_rows:,} vectors", flush=True)
        results["ann"] = await ann_study(
            settings, embedder, db_url, server, args.ann_rows, args.ann_queries
        )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:])
    if not (args.queries or args.all or args.ann or args.chunking):
        print("nothing to do: give --queries FILE, --ann or --all", file=sys.stderr)
        return 2
    results = asyncio.run(run(args))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or REPO_ROOT / "loadtest" / "results" / f"eval-{stamp}"
    report.write(out, results)
    print()
    print((out / "report.md").read_text())
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
