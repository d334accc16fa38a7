"""Side by side with a peer: Supabase's published `hybrid_search` recipe on the same database.

The recipe is Supabase's "Hybrid search" guide (https://supabase.com/docs/guides/ai/hybrid-search,
source: supabase/supabase apps/docs/content/guides/ai/hybrid-search.mdx): a `documents` table with
a generated `fts` tsvector (GIN) and an `embedding` (HNSW, vector_ip_ops), and one SQL function
that fuses `websearch_to_tsquery` + `ts_rank_cd` with inner-product nearest neighbours by RRF
(k = 50, each leg's limit least(match_count, 30) * 2). It is installed as written, in its own
schema `peer`, over a copy of the same chunks (text and vectors), with only the vector size
changed (512 -> the model's). The recipe has no access scoping, so both run in the admin scope.

Both are measured against their own exact versions: the same function with the HNSW scan turned
off (exact nearest neighbours), and for ours the exact vector leg and BM25 over every matching
chunk. The ef_search sweep gives each system's recall@10 at each setting; QPS (two clients at
once, the machine's two cores) and P95 are reported at each, and at the lowest setting where each
reaches recall@10 >= 0.99: equal recall.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

from devtools.evals.metrics import percentile
from service.access.scope import AccessScope
from service.search.fusion import rrf
from service.search.hybrid import SearchParams, hybrid_search, vector_literal
from service.search.lexical import exhaustive_candidates
from service.search.plan import VectorPlan
from service.search.vector import apply_plan_settings, vector_candidates

RECIPE_URL = "https://supabase.com/docs/guides/ai/hybrid-search"
EF_SWEEP = (40, 100, 200, 300)
CLIENTS = 2
K = 10


def recipe_sql(dim: int) -> list[str]:
    """The guide's table, indexes and function, verbatim but for the vector size; run with
    search_path = peer, so `documents` is the copy in that schema."""
    return [
        f"""create table documents (
  id bigint primary key generated always as identity,
  content text,
  fts tsvector generated always as (to_tsvector('english', content)) stored,
  embedding vector({dim})
)""",
        "create index on documents using gin(fts)",
        "create index on documents using hnsw (embedding vector_ip_ops)",
        f"""create or replace function hybrid_search(
  query_text text,
  query_embedding vector({dim}),
  match_count int,
  full_text_weight float = 1,
  semantic_weight float = 1,
  rrf_k int = 50
)
returns setof documents
language sql
as $$
with full_text as (
  select
    id,
    -- Note: ts_rank_cd is not indexable but will only rank matches of the where clause
    -- which shouldn't be too big
    row_number() over(order by ts_rank_cd(fts, websearch_to_tsquery(query_text)) desc) as rank_ix
  from
    documents
  where
    fts @@ websearch_to_tsquery(query_text)
  order by rank_ix
  limit least(match_count, 30) * 2
),
semantic as (
  select
    id,
    row_number() over (order by embedding <#> query_embedding) as rank_ix
  from
    documents
  order by rank_ix
  limit least(match_count, 30) * 2
)
select
  documents.*
from
  full_text
  full outer join semantic
    on full_text.id = semantic.id
  join documents
    on coalesce(full_text.id, semantic.id) = documents.id
order by
  coalesce(1.0 / (rrf_k + full_text.rank_ix), 0.0) * full_text_weight +
  coalesce(1.0 / (rrf_k + semantic.rank_ix), 0.0) * semantic_weight
  desc
limit
  least(match_count, 30)
$$""",  # noqa: S608 - the recipe as published; only our own integer goes in
    ]


def install(url: str, model: str, dim: int) -> dict[str, float]:
    """The recipe's schema over a copy of the chunks; returns load and index seconds."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS peer CASCADE")
        conn.execute("CREATE SCHEMA peer")
        conn.execute("SET search_path = peer, public")
        ddl = recipe_sql(dim)
        conn.execute(ddl[0])
        t0 = time.perf_counter()
        conn.execute(
            f"INSERT INTO peer.documents (content, embedding) "  # noqa: S608 - our own literals
            f"SELECT content, embedding::vector({dim}) FROM public.document_chunks "
            f"WHERE embedding_model = %s ORDER BY id",
            (model,),
        )
        loaded = time.perf_counter() - t0
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        for statement in ddl[1:]:
            conn.execute(statement)
        indexed = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE peer.documents")
    return {"load_seconds": loaded, "index_seconds": indexed}


async def _peer_top(
    conn: psycopg.AsyncConnection[Any], text: str, vector: list[float], ef: int | None
) -> list[int]:
    """The recipe's top 10 (ef None: exact, the HNSW index not used)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL search_path = peer, public")
        if ef is None:
            await conn.execute("SET LOCAL enable_indexscan = off")
        else:
            await conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
        cur = await conn.execute(
            "SELECT id FROM hybrid_search(%s, %s::vector, %s)",
            (text, vector_literal(vector), K),
        )
        rows = await cur.fetchall()
    return [int(r["id"]) for r in rows]


async def _ours_top(
    conn: psycopg.AsyncConnection[Any],
    params: SearchParams,
    text: str,
    vector: list[float],
    plan: VectorPlan,
) -> list[int]:
    result = await hybrid_search(
        conn, params=params, scope=AccessScope(True), plan=plan,
        query_text=text, query_vector=vector, limit=K,
    )  # fmt: skip
    return [h.chunk_id for h in result.hits]


async def _ours_exact(
    conn: psycopg.AsyncConnection[Any], params: SearchParams, text: str, vector: list[float]
) -> list[int]:
    scope, plan = AccessScope(True), VectorPlan("exact", params.vector_candidates)
    args = {"qv": vector_literal(vector), "vk": params.vector_candidates, "qt": text}
    async with conn.transaction():
        await apply_plan_settings(conn, plan)
        cur = await conn.execute(
            vector_candidates(params.model, params.dimensions, scope, plan), args
        )
        vec = [int(r["id"]) for r in await cur.fetchall()]
        cur = await conn.execute(
            exhaustive_candidates(params.model, scope), {**args, "fk": params.fts_candidates}
        )
        lex = [int(r["id"]) for r in await cur.fetchall()]
    return [f.id for f in rrf(vec, lex, params.rrf_k)[:K]]


async def _throughput(
    url: str, run: Any, questions: list[str], vectors: np.ndarray
) -> dict[str, float]:
    """CLIENTS connections each asking every question once; QPS over the wall time, P95."""
    latencies: list[float] = []

    async def client(offset: int) -> None:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, row_factory=dict_row
        ) as conn:
            for i in range(len(questions)):
                j = (i + offset) % len(questions)
                t0 = time.perf_counter()
                await run(conn, questions[j], vectors[j].tolist())
                latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(c * len(questions) // CLIENTS) for c in range(CLIENTS)))
    wall = time.perf_counter() - started
    return {
        "qps": len(latencies) / wall,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }


def _recall(got: list[list[int]], truth: list[list[int]]) -> float:
    found = sum(len(set(g) & set(t)) for g, t in zip(got, truth, strict=True))
    return found / max(1, sum(len(t) for t in truth))


async def compare(
    url: str, params: SearchParams, questions: list[str], vectors: np.ndarray
) -> dict[str, Any]:
    loaded = install(url, params.model, params.dimensions)
    with psycopg.connect(url) as sync:
        count = sync.execute("SELECT count(*) FROM peer.documents").fetchone()
    rows = int(count[0]) if count else 0
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        ours_truth = [
            await _ours_exact(conn, params, t, v.tolist())
            for t, v in zip(questions, vectors, strict=True)
        ]
        peer_truth = [
            await _peer_top(conn, t, v.tolist(), None)
            for t, v in zip(questions, vectors, strict=True)
        ]
        sweep: list[dict[str, Any]] = []
        for ef in EF_SWEEP:
            plan = VectorPlan("hnsw", ef)
            ours_got = [
                await _ours_top(conn, params, t, v.tolist(), plan)
                for t, v in zip(questions, vectors, strict=True)
            ]
            peer_got = [
                await _peer_top(conn, t, v.tolist(), ef)
                for t, v in zip(questions, vectors, strict=True)
            ]
            sweep.append(
                {
                    "ef_search": ef,
                    "ours_recall@10": _recall(ours_got, ours_truth),
                    "peer_recall@10": _recall(peer_got, peer_truth),
                }
            )
    # Throughput in alternating turns, so both see the same machine.
    for row in sweep:
        ef = row["ef_search"]
        plan = VectorPlan("hnsw", ef)

        async def ours_run(conn: Any, t: str, v: list[float], plan: VectorPlan = plan) -> None:
            await _ours_top(conn, params, t, v, plan)

        async def peer_run(conn: Any, t: str, v: list[float], ef: int = ef) -> None:
            await _peer_top(conn, t, v, ef)

        row["ours"] = await _throughput(url, ours_run, questions, vectors)
        row["peer"] = await _throughput(url, peer_run, questions, vectors)
    equal = {
        name: next((r for r in sweep if r[f"{name}_recall@10"] >= 0.99), sweep[-1])
        for name in ("ours", "peer")
    }
    return {
        "recipe": RECIPE_URL,
        "rows": rows,
        "clients": CLIENTS,
        "queries": len(questions),
        **loaded,
        "sweep": sweep,
        "at_recall_0.99": {
            name: {"ef_search": r["ef_search"], "recall@10": r[f"{name}_recall@10"], **r[name]}
            for name, r in equal.items()
        },
    }
