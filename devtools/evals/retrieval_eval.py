"""Runs labelled query files through the production retrieval path (RagEngine.retrieve)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from devtools.evals.corpus import DBPEDIA_SCHEME
from devtools.evals.metrics import normalise, percentile
from devtools.evals.querysets import Retrieved, contains_evidence, load, mean, role, score
from devtools.evals.variants import retriever
from service.answers.engine import RagEngine
from service.cache.backends import NullCache
from service.cache.layers import RagCache
from service.core.config import Settings
from service.core.db import Conn
from service.embeddings.base import Embedder
from service.search.rerank import NoRerank


async def open_pool(db_url: str, max_size: int, min_size: int = 1) -> AsyncConnectionPool[Conn]:
    """A pool shaped like the API's (dict rows, autocommit), opened; the caller closes it."""
    pool = AsyncConnectionPool[Conn](
        db_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": True},
        open=False,
    )
    await pool.open()
    return pool


def engine_for(settings: Settings, pool: Any, embedder: Embedder) -> RagEngine:
    return RagEngine(
        settings, pool, embedder, RagCache(NullCache(), {}), NoRerank(), None, "extractive"
    )


async def _chunk_index(conn: Conn) -> dict[int, tuple[str, str]]:
    cur = await conn.execute(
        "SELECT c.id, c.content, d.id AS doc_id, d.source_url FROM document_chunks c "
        "JOIN knowledge_documents d ON d.id = c.document_id"
    )
    out = {}
    for r in await cur.fetchall():
        url = r["source_url"] or ""
        key = (
            url.removeprefix(DBPEDIA_SCHEME) if url.startswith(DBPEDIA_SCHEME) else str(r["doc_id"])
        )
        out[r["id"]] = (normalise(r["content"]), key)
    return out


async def evaluate_files(
    db_url: str,
    settings: Settings,
    embedder: Embedder,
    files: list[Path],
    k: int,
    variant: str = "hybrid",
) -> dict[str, Any]:
    pool = await open_pool(db_url, max_size=4)
    try:
        engine = engine_for(settings, pool, embedder)
        retrieve = retriever(variant, engine, pool)
        async with pool.connection() as conn:
            chunks = await _chunk_index(conn)
        all_texts = [t for t, _ in chunks.values()]
        per_file: dict[str, Any] = {}
        every: list[dict[str, float]] = []
        for path in files:
            queries = load(path)
            started = time.perf_counter()
            vectors = await embedder.embed([q.query for q in queries])
            scores, latencies, misses, echoes = [], [], [], 0
            for q, vec in zip(queries, vectors, strict=True):
                t0 = time.perf_counter()
                ids = await retrieve(q.query, vec, min(20, max(k, 20 if q.graded else k)))
                latencies.append((time.perf_counter() - t0) * 1000)
                ranked = [Retrieved(*chunks[cid]) for cid in ids]
                s = score(q, ranked, all_texts, k)
                # The top chunk quotes the question itself (Hofmann's Q&A, Cooke's question lists).
                echoes += bool(ranked) and contains_evidence(ranked[0].text, [normalise(q.query)])
                scores.append(s)
                if not q.graded and s[f"recall@{k}"] == 0:
                    misses.append(q.id)
            every.extend(scores)
            per_file[path.stem] = {
                "file": str(path),
                "queries": len(queries),
                "graded": any(q.graded for q in queries),
                "role": role(path.stem),
                **mean(scores),
                "question_echo@1": echoes / max(1, len(queries)),
                "search_p50_ms": percentile(latencies, 50),
                "search_p95_ms": percentile(latencies, 95),
                "seconds": time.perf_counter() - started,
                "misses": misses[:50],
            }
            m = per_file[path.stem]
            print(
                f"  [queries] {path.stem}: n={len(queries)} recall@1={m['recall@1']:.3f} "
                f"recall@5={m['recall@5']:.3f} recall@{k}={m[f'recall@{k}']:.3f} "
                f"MRR={m['mrr']:.3f} nDCG@{k}={m[f'ndcg@{k}']:.3f}",
                flush=True,
            )
        return {
            "k": k,
            "variant": variant,
            "chunks": len(chunks),
            "files": per_file,
            "overall": mean(every),
        }
    finally:
        await pool.close()
