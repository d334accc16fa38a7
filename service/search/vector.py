"""The vector leg: the caller's scope ordered by cosine distance, run as its plan says."""

from __future__ import annotations

from psycopg import sql

from service.access.scope import AccessScope
from service.core.db import Conn
from service.search.plan import VectorPlan


def vector_expr(model_dimensions: int) -> sql.Composed:
    """Must match the partial HNSW index expression (0003_knowledge.sql) exactly."""
    dim = sql.SQL(str(int(model_dimensions)))
    return sql.SQL("(c.embedding::vector({dim}) <=> %(qv)s::vector({dim}))").format(dim=dim)


def vector_candidates(
    model: str, dimensions: int, scope: AccessScope, plan: VectorPlan
) -> sql.Composed:
    """`SELECT id, dist` of the %(vk)s nearest chunks in scope, nearest first (param qv)."""
    dist = vector_expr(dimensions)
    # "+ 0" hides the ordering from the HNSW index, so the planner filters first and sorts exactly.
    order = sql.SQL("{} + 0").format(dist) if plan.kind == "exact" else dist
    inner = sql.SQL(
        "SELECT c.id, {dist} AS dist FROM document_chunks AS c "
        "WHERE c.embedding_model = {model} AND {scope} ORDER BY {order} LIMIT %(vk)s"
    ).format(dist=dist, model=sql.Literal(model), scope=scope.sql("c"), order=order)
    if plan.kind != "iterative":
        return inner
    # A relaxed-order iterative scan may return rows slightly out of order: sort what it found.
    return sql.SQL("SELECT id, dist FROM ({}) AS found ORDER BY dist, id").format(inner)


async def apply_plan_settings(conn: Conn, plan: VectorPlan) -> None:
    """Transaction-local settings; callers run this inside `conn.transaction()`."""
    await conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(plan.ef_search),))
    if plan.iterative_scan:
        await conn.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.max_scan_tuples', %s, true)",
            (str(plan.max_scan_tuples),),
        )
