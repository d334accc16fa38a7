"""Gauges that are sampled rather than counted: pool state, Postgres internals, the job queue.

Samplers take a pool or a connection as a parameter so they have no tie to the app's wiring.
In multi-process mode every worker runs ``sampling`` so its own pool is reported.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import psycopg
from psycopg.rows import tuple_row

from service.core.background import repeating
from service.observability.metrics import (
    DB_INDEX_HIT_RATIO,
    DB_INDEX_SIZE,
    DB_POOL_CONNECTIONS,
    DB_POOL_MAX,
    DB_SLOW_QUERIES,
    DB_UP,
    INGESTION_OLDEST_JOB_AGE,
    INGESTION_QUEUE_DEPTH,
)

log = logging.getLogger(__name__)

SLOW_QUERY_SECONDS = 1.0


class StatsPool(Protocol):
    """What we need from psycopg_pool's ConnectionPool / AsyncConnectionPool."""

    def get_stats(self) -> dict[str, int]: ...


def observe_pool(pool: StatsPool) -> None:
    """Copy ``get_stats()`` into the pool gauges; cheap, safe to call on every scrape."""
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    idle = stats.get("pool_available", 0)
    DB_POOL_CONNECTIONS.labels(state="in_use").set(max(size - idle, 0))
    DB_POOL_CONNECTIONS.labels(state="idle").set(idle)
    DB_POOL_CONNECTIONS.labels(state="waiting").set(stats.get("requests_waiting", 0))
    DB_POOL_MAX.set(stats.get("pool_max", 0))


INDEX_SIZES_SQL = """
SELECT c.relname, am.amname, pg_relation_size(c.oid)
FROM pg_class c
JOIN pg_am am ON am.oid = c.relam
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
"""
INDEX_HITS_SQL = """
SELECT coalesce(sum(idx_blks_hit), 0), coalesce(sum(idx_blks_read), 0)
FROM pg_statio_user_indexes
"""
SLOW_QUERIES_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid()
  AND now() - query_start > make_interval(secs => %s)
"""
QUEUE_SQL = """
SELECT count(*),
       coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.deferred_at))), 0)
FROM procrastinate_jobs j
LEFT JOIN LATERAL (
    SELECT min(at) AS deferred_at FROM procrastinate_events
    WHERE job_id = j.id AND type = 'deferred'
) e ON true
WHERE j.status = 'todo' AND coalesce(j.scheduled_at, now()) <= now()
"""


async def sample_postgres(conn: psycopg.AsyncConnection[Any]) -> None:
    """Index sizes (HNSW among them), index cache hit ratio and long-running queries."""
    # tuple rows whatever the pool's row factory is (the API pool returns dicts)
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(INDEX_SIZES_SQL)
        for name, method, size in await cur.fetchall():
            DB_INDEX_SIZE.labels(index=name, method=method).set(size)
        await cur.execute(INDEX_HITS_SQL)
        row = await cur.fetchone()
        hit, read = (int(row[0]), int(row[1])) if row else (0, 0)
        DB_INDEX_HIT_RATIO.set(hit / (hit + read) if hit + read else 1.0)
        await cur.execute(SLOW_QUERIES_SQL, (SLOW_QUERY_SECONDS,))
        row = await cur.fetchone()
        DB_SLOW_QUERIES.set(row[0] if row else 0)


async def sample_ingestion_queue(conn: psycopg.AsyncConnection[Any]) -> None:
    """Depth and oldest-job age of the procrastinate queue; skipped if its schema is absent."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cur.fetchone()
        if not row or not row[0]:
            return
        await cur.execute(QUEUE_SQL)
        row = await cur.fetchone()
    depth, age = (int(row[0]), float(row[1])) if row else (0, 0.0)
    INGESTION_QUEUE_DEPTH.set(depth)
    INGESTION_OLDEST_JOB_AGE.set(age)


class AsyncStatsPool(StatsPool, Protocol):
    def connection(self) -> Any: ...


async def sample_once(pool: AsyncStatsPool) -> None:
    """One round of every sampler; a database failure sets ``db_up`` to 0 instead of raising."""
    observe_pool(pool)
    try:
        async with pool.connection() as conn:
            await sample_postgres(conn)
            await sample_ingestion_queue(conn)
    except (psycopg.Error, OSError, TimeoutError) as exc:
        log.warning("database sample failed", extra={"error": str(exc)})
        DB_UP.set(0)
    else:
        DB_UP.set(1)


@contextlib.asynccontextmanager
async def sampling(pool: AsyncStatsPool, interval_seconds: float = 15.0) -> AsyncIterator[None]:
    """Run the gauge samplers for the lifetime of the ``async with`` block (use in the lifespan)."""
    async with repeating(
        lambda: sample_once(pool), interval_seconds, "metrics sampler", at_once=True
    ):
        yield
