"""The hybrid search query: vector leg + full-text leg + RRF fusion in one SQL statement."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from psycopg import sql

from service.access.scope import AccessScope
from service.core.db import Conn, fetch_all
from service.search.plan import VectorPlan


@dataclass(frozen=True)
class SearchParams:
    model: str
    dimensions: int
    vector_candidates: int = 40
    fts_candidates: int = 40
    rrf_k: int = 60


@dataclass
class SearchHit:
    chunk_id: int
    document_id: UUID
    title: str
    source_type: str
    source_url: str | None
    content: str
    chunk_index: int
    page_start: int | None
    page_end: int | None
    start_seconds: float | None
    end_seconds: float | None
    section: str | None
    score: float  # fused RRF score (or reranker score when a reranker ran)
    similarity: float  # cosine similarity of the chunk to the query, 0..1 for normalised vectors
    vector_rank: int | None
    fts_rank: int | None
    owner_id: UUID | None = None
    is_public: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "document_id": str(self.document_id),
            "title": self.title,
            "source_type": self.source_type,
            "source_url": self.source_url,
            "content": self.content,
            "chunk_index": self.chunk_index,
            "page_start": self.page_start,
            "page_end": self.page_end,
            "start_seconds": self.start_seconds,
            "end_seconds": self.end_seconds,
            "section": self.section,
            "score": self.score,
            "similarity": self.similarity,
            "vector_rank": self.vector_rank,
            "fts_rank": self.fts_rank,
            "owner_id": str(self.owner_id) if self.owner_id else None,
            "is_public": self.is_public,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SearchHit:
        return cls(
            **{
                **d,
                "document_id": UUID(d["document_id"]),
                "owner_id": UUID(d["owner_id"]) if d.get("owner_id") else None,
            }
        )


def vector_expr(params: SearchParams) -> sql.Composed:
    """Must match the partial HNSW index expression in 0003_knowledge.sql exactly."""
    dim = sql.SQL(str(int(params.dimensions)))
    return sql.SQL("(c.embedding::vector({dim}) <=> %(qv)s::vector({dim}))").format(dim=dim)


def vector_leg(params: SearchParams, scope: AccessScope, plan: VectorPlan) -> sql.Composed:
    """Both legs filter on the chunk's denormalised owner/public columns: no join needed."""
    dist = vector_expr(params)
    # "+ 0" hides the ordering from the HNSW index, so the planner filters first and sorts exactly.
    order = dist if plan.kind == "hnsw" else sql.SQL("{} + 0").format(dist)
    return sql.SQL(
        "SELECT c.id, {dist} AS dist FROM document_chunks c "
        "WHERE c.embedding_model = {model} AND {scope} ORDER BY {order} LIMIT %(vk)s"
    ).format(dist=dist, model=sql.Literal(params.model), scope=scope.sql("c"), order=order)


def fts_leg(params: SearchParams, scope: AccessScope) -> sql.Composed:
    return sql.SQL(
        "SELECT c.id, ts_rank_cd(c.tsv, q.ts) AS rank FROM document_chunks c, q "
        "WHERE c.tsv @@ q.ts AND c.embedding_model = {model} AND {scope} "
        "ORDER BY rank DESC, c.id LIMIT %(fk)s"
    ).format(model=sql.Literal(params.model), scope=scope.sql("c"))


def hybrid_query(params: SearchParams, scope: AccessScope, plan: VectorPlan) -> sql.Composed:
    """Both legs and the fusion; the OR-ed tsquery lets a natural-language question match."""
    return sql.SQL(
        """
WITH q AS (
    SELECT replace(plainto_tsquery('english', %(qt)s)::text, '&', '|')::tsquery AS ts
),
vec AS (
    SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rnk FROM ({vector_leg}) v
),
fts AS (
    SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS rnk FROM ({fts_leg}) f
),
fused AS (
    SELECT coalesce(vec.id, fts.id) AS id, vec.rnk AS vector_rank, fts.rnk AS fts_rank,
           coalesce(1.0::float8 / (%(rrf_k)s + vec.rnk), 0)
         + coalesce(1.0::float8 / (%(rrf_k)s + fts.rnk), 0) AS rrf
    FROM vec FULL OUTER JOIN fts ON vec.id = fts.id
    ORDER BY rrf DESC, least(vec.rnk, fts.rnk), vec.rnk IS NULL, id
    LIMIT %(limit)s
)
SELECT f.id AS chunk_id, f.vector_rank, f.fts_rank, f.rrf AS score,
       1 - {dist} AS similarity,
       c.document_id, c.content, c.chunk_index, c.page_start, c.page_end,
       c.start_seconds, c.end_seconds, c.section, c.owner_id, c.is_public,
       d.title, d.source_type, d.source_url
FROM fused f
JOIN document_chunks c ON c.id = f.id
JOIN knowledge_documents d ON d.id = c.document_id
ORDER BY f.rrf DESC, least(f.vector_rank, f.fts_rank), f.vector_rank IS NULL, f.id
"""
    ).format(
        vector_leg=vector_leg(params, scope, plan),
        fts_leg=fts_leg(params, scope),
        dist=vector_expr(params),
    )


def vector_literal(vec: list[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vec) + "]"


async def apply_plan_settings(conn: Conn, plan: VectorPlan) -> None:
    """Transaction-local settings; callers run this inside `conn.transaction()`."""
    await conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(plan.ef_search),))
    if plan.iterative_scan:
        await conn.execute("SELECT set_config('hnsw.iterative_scan', 'strict_order', true)")


async def hybrid_search(
    conn: Conn,
    *,
    params: SearchParams,
    scope: AccessScope,
    plan: VectorPlan,
    query_text: str,
    query_vector: list[float],
    limit: int,
) -> tuple[list[SearchHit], float]:
    """Returns the fused hits and the elapsed milliseconds (settings + query pipelined)."""
    started = time.perf_counter()
    query = hybrid_query(params, scope, plan)
    args = {
        "qt": query_text,
        "qv": vector_literal(query_vector),
        "vk": params.vector_candidates,
        "fk": params.fts_candidates,
        "rrf_k": params.rrf_k,
        "limit": limit,
    }
    async with conn.pipeline(), conn.transaction():
        await apply_plan_settings(conn, plan)
        hits = await fetch_all(conn, SearchHit, query, args)
    return hits, (time.perf_counter() - started) * 1000


async def vector_only(
    conn: Conn,
    *,
    params: SearchParams,
    scope: AccessScope,
    plan: VectorPlan,
    query_vector: list[float],
    k: int,
) -> list[int]:
    """Just the vector leg (the eval harness compares it to exact search)."""
    async with conn.pipeline(), conn.transaction():
        await apply_plan_settings(conn, plan)
        cur = await conn.execute(
            vector_leg(params, scope, plan), {"qv": vector_literal(query_vector), "vk": k}
        )
        rows = await cur.fetchall()
    return [r["id"] for r in rows]
