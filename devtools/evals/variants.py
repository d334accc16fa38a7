"""Retrievers compared on the labelled sets, all over the same database and query vectors.

- `hybrid`: the production path (RagEngine.retrieve: vector leg + BM25 leg, RRF).
- `legacy-fts`: the production vector leg fused with the lexical leg this service had before
  BM25: an OR-ed `plainto_tsquery('english')` ranked by `ts_rank_cd` over every match.
- `dense`: the vector leg alone.
- `bm25`: the BM25 leg alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import sql

from service.access.scope import AccessScope
from service.answers.engine import QueryInput, RagEngine
from service.search.fusion import rrf
from service.search.hybrid import vector_literal
from service.search.lexical import lexical_candidates
from service.search.plan import VectorPlan
from service.search.vector import apply_plan_settings, vector_candidates

EVAL_USER = uuid.UUID(int=0)
Retriever = Callable[[str, list[float], int], Awaitable[list[int]]]
VARIANTS = ("hybrid", "legacy-fts", "dense", "bm25")

_LEGACY = sql.SQL(
    "WITH q AS (SELECT replace(plainto_tsquery('english', %(qt)s)::text, '&', '|')::tsquery AS ts) "
    "SELECT c.id FROM document_chunks AS c, q "
    "WHERE to_tsvector('english', c.content) @@ q.ts AND c.embedding_model = {model} "
    "ORDER BY ts_rank_cd(to_tsvector('english', c.content), q.ts) DESC, c.id LIMIT %(fk)s"
)


def retriever(name: str, engine: RagEngine, pool: Any) -> Retriever:
    params = engine.params
    scope = AccessScope(True)
    plan = VectorPlan("hnsw", engine.settings.search.ef_search)

    async def vector(vec: list[float], k: int) -> list[int]:
        async with pool.connection() as conn, conn.transaction():
            await apply_plan_settings(conn, plan)
            cur = await conn.execute(
                vector_candidates(params.model, params.dimensions, scope, plan),
                {"qv": vector_literal(vec), "vk": k},
            )
            return [r["id"] for r in await cur.fetchall()]

    async def lexical(query: sql.Composable, text: str, k: int) -> list[int]:
        async with pool.connection() as conn:
            cur = await conn.execute(
                query,
                {
                    "qt": text,
                    "fk": k,
                    "budget": params.lexical_budget,
                    "postings": params.lexical_budget,
                },
            )
            return [r["id"] for r in await cur.fetchall()]

    async def hybrid(text: str, vec: list[float], k: int) -> list[int]:
        r = await engine.retrieve(
            QueryInput(text, EVAL_USER, "admin", top_k=k, query_embedding=vec)
        )
        return [h.chunk_id for h in r.hits]

    async def legacy(text: str, vec: list[float], k: int) -> list[int]:
        v = await vector(vec, params.vector_candidates)
        lx = await lexical(
            _LEGACY.format(model=sql.Literal(params.model)), text, params.fts_candidates
        )
        return [f.id for f in rrf(v, lx, params.rrf_k)[:k]]

    async def dense(text: str, vec: list[float], k: int) -> list[int]:
        return await vector(vec, k)

    async def bm25(text: str, vec: list[float], k: int) -> list[int]:
        return await lexical(lexical_candidates(params.model, scope), text, k)

    return {"hybrid": hybrid, "legacy-fts": legacy, "dense": dense, "bm25": bm25}[name]
