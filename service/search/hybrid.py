"""Hybrid search: the vector leg and the lexical (BM25) leg, fused with Reciprocal Rank Fusion.

Each leg returns its candidates with everything a hit shows, so fusing them needs no further
query. Given a second connection, the legs run at the same time, one on each (the search takes
about as long as its slower leg); without one, one after the other on the caller's connection.
Either way each leg's own time is measured.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_args
from uuid import UUID

from psycopg import sql

from service.access.scope import AccessScope
from service.core.db import Conn
from service.search.fusion import rrf
from service.search.lexical import DEFAULT_BUDGET, lexical_leg, postings_for
from service.search.plan import PlanKind, VectorPlan
from service.search.vector import apply_plan_settings, vector_candidates, vector_expr


@dataclass(frozen=True)
class SearchParams:
    model: str
    dimensions: int
    vector_candidates: int = 40
    fts_candidates: int = 40
    rrf_k: int = 60
    lexical_budget: int = DEFAULT_BUDGET


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


_DETAILS = sql.SQL(
    "c.document_id, c.content, c.chunk_index, c.page_start, c.page_end, c.start_seconds, "
    "c.end_seconds, c.section, c.owner_id, c.is_public, d.title, d.source_type, d.source_url"
)
_HIT_FIELDS = {f.name for f in fields(SearchHit)}


def vector_query(params: SearchParams, scope: AccessScope, plan: VectorPlan) -> sql.Composed:
    return sql.SQL(
        "SELECT v.id, 1 - v.dist AS similarity, {details} FROM ({legs}) AS v "
        "JOIN document_chunks AS c ON c.id = v.id "
        "JOIN knowledge_documents AS d ON d.id = c.document_id ORDER BY v.dist, v.id"
    ).format(
        details=_DETAILS,
        legs=vector_candidates(params.model, params.dimensions, scope, plan),
    )


def lexical_query(params: SearchParams, scope: AccessScope, plan: VectorPlan) -> sql.Composed:
    return sql.SQL(
        "SELECT l.id, 1 - {dist} AS similarity, {details} FROM ({leg}) AS l "
        "JOIN document_chunks AS c ON c.id = l.id "
        "JOIN knowledge_documents AS d ON d.id = c.document_id ORDER BY l.score DESC, l.id"
    ).format(
        dist=vector_expr(params.dimensions),
        details=_DETAILS,
        leg=lexical_leg(params.model, scope, plan),
    )


def ranking_fingerprint(params: SearchParams, settings: Mapping[str, Any]) -> str:
    """Names what decides which hits a search returns, for the search cache's keys.

    The parameters, the settings (`settings`: the search and re-ranking sections; a change to any
    of them starts the cache afresh, which is safe and rare), and the SQL both legs run for every
    plan kind, for a scope of everything and for a narrower one. A deploy that changes any of
    them, a new lexical algorithm included, stops matching the search results cached before it
    rather than serving them until they expire.
    """
    every_kind: tuple[PlanKind, ...] = get_args(PlanKind)
    scopes = (AccessScope(True), AccessScope(False, frozenset({UUID(int=0)})))
    statements = [
        query(params, scope, VectorPlan(kind, 0)).as_string()
        for kind in every_kind
        for scope in scopes
        for query in (vector_query, lexical_query)
    ]
    payload = json.dumps(
        {"params": asdict(params), "settings": settings, "sql": statements},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def vector_literal(vec: list[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vec) + "]"


@dataclass
class HybridResult:
    hits: list[SearchHit]
    vector_ids: list[int]  # each leg's own ranking, nearest / best first
    lexical_ids: list[int]
    vector_ms: float
    lexical_ms: float
    total_ms: float
    legs_at_once: bool = False  # on two connections at the same time


# Never prepared: psycopg prepares a statement after 5 runs on a connection, and PostgreSQL may
# then keep one generic plan for it. Both legs' best plans depend on the values (the query's
# terms and their postings, the candidate counts): the lexical leg's generic plan was measured at
# 2-3 s a query against 3-100 ms planned per query.


async def _vector_rows(
    conn: Conn, query: sql.Composed, args: dict[str, Any], plan: VectorPlan
) -> tuple[list[Any], float]:
    started = time.perf_counter()
    # One transaction: the plan's settings are transaction-local.
    async with conn.pipeline(), conn.transaction():
        await apply_plan_settings(conn, plan)
        cur = await conn.execute(query, args, prepare=False)
        rows = await cur.fetchall()
    return rows, (time.perf_counter() - started) * 1000


async def _lexical_rows(
    conn: Conn, query: sql.Composed, args: dict[str, Any]
) -> tuple[list[Any], float]:
    started = time.perf_counter()
    cur = await conn.execute(query, args, prepare=False)
    rows = await cur.fetchall()
    return rows, (time.perf_counter() - started) * 1000


async def hybrid_search(
    conn: Conn,
    *,
    params: SearchParams,
    scope: AccessScope,
    plan: VectorPlan,
    query_text: str,
    query_vector: list[float],
    limit: int,
    spare: Conn | None = None,
) -> HybridResult:
    """The fused top `limit`, each leg's ranking, and the milliseconds each step took.

    With `spare` (a second connection, see `service.core.db.idle_connection`), the lexical leg
    runs on it while the vector leg runs on `conn`.
    """
    args = {
        "qt": query_text,
        "qv": vector_literal(query_vector),
        "vk": params.vector_candidates,
        "fk": params.fts_candidates,
        "budget": params.lexical_budget,
        "postings": postings_for(params.lexical_budget, plan.scope_rows, plan.total_rows),
    }
    vquery = vector_query(params, scope, plan)
    lquery = lexical_query(params, scope, plan)
    started = time.perf_counter()
    if spare is None:
        vrows, vector_ms = await _vector_rows(conn, vquery, args, plan)
        lrows, lexical_ms = await _lexical_rows(conn, lquery, args)
    else:
        try:
            # A TaskGroup, not gather: if one leg fails, the other is cancelled rather than left
            # running on a connection that goes back to the pool.
            async with asyncio.TaskGroup() as group:
                vector_task = group.create_task(_vector_rows(conn, vquery, args, plan))
                lexical_task = group.create_task(_lexical_rows(spare, lquery, args))
        except ExceptionGroup as failed:
            # The caller's error mapping sees the leg's own error, as on the sequential path.
            raise failed.exceptions[0] from None
        vrows, vector_ms = vector_task.result()
        lrows, lexical_ms = lexical_task.result()
    rows = {r["id"]: r for r in [*lrows, *vrows]}
    vector_ids = [r["id"] for r in vrows]
    lexical_ids = [r["id"] for r in lrows]
    hits = []
    for f in rrf(vector_ids, lexical_ids, params.rrf_k)[:limit]:
        row = {k: v for k, v in rows[f.id].items() if k in _HIT_FIELDS}
        hits.append(
            SearchHit(
                chunk_id=f.id,
                score=f.score,
                vector_rank=f.vector_rank,
                fts_rank=f.lexical_rank,
                **row,
            )
        )
    total_ms = (time.perf_counter() - started) * 1000
    return HybridResult(
        hits, vector_ids, lexical_ids, vector_ms, lexical_ms, total_ms, spare is not None
    )


async def vector_only(
    conn: Conn,
    *,
    params: SearchParams,
    scope: AccessScope,
    plan: VectorPlan,
    query_vector: list[float],
    k: int,
) -> list[int]:
    """Just the vector leg (the eval harness and live recall compare it to exact search)."""
    async with conn.pipeline(), conn.transaction():
        await apply_plan_settings(conn, plan)
        cur = await conn.execute(
            vector_candidates(params.model, params.dimensions, scope, plan),
            {"qv": vector_literal(query_vector), "vk": k},
        )
        rows = await cur.fetchall()
    return [r["id"] for r in rows]
