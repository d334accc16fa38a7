"""Samplers read real PostgreSQL (pgvector HNSW index, procrastinate queue) into the gauges."""

from __future__ import annotations

import asyncio

from prometheus_client import Gauge
from psycopg_pool import AsyncConnectionPool

from service.observability import metrics
from service.observability.samplers import observe_pool, sample_once


def _gauge(metric: Gauge, **labels: str) -> float:
    target = metric.labels(**labels) if labels else metric
    return float(target._value.get())


def test_sample_once_fills_database_gauges(sampled_db: str) -> None:
    async def run() -> dict[str, int]:
        async with AsyncConnectionPool(sampled_db, min_size=1, max_size=3, open=False) as pool:
            await pool.wait()
            async with pool.connection():
                await sample_once(pool)
                return pool.get_stats()

    stats = asyncio.run(run())
    assert _gauge(metrics.DB_UP) == 1
    assert _gauge(metrics.DB_INDEX_SIZE, index="chunks_embedding_hnsw", method="hnsw") > 0
    assert 0 <= _gauge(metrics.DB_INDEX_HIT_RATIO) <= 1
    assert _gauge(metrics.DB_SLOW_QUERIES) == 0
    assert _gauge(metrics.INGESTION_QUEUE_DEPTH) == 2
    assert 85 <= _gauge(metrics.INGESTION_OLDEST_JOB_AGE) < 600
    # One connection was held by the test while sampling used a second one.
    assert stats["pool_max"] == 3
    assert _gauge(metrics.DB_POOL_MAX) == 3


def test_observe_pool_maps_stats() -> None:
    class Pool:
        def get_stats(self) -> dict[str, int]:
            return {"pool_size": 5, "pool_available": 2, "requests_waiting": 4, "pool_max": 10}

    observe_pool(Pool())
    assert _gauge(metrics.DB_POOL_CONNECTIONS, state="in_use") == 3
    assert _gauge(metrics.DB_POOL_CONNECTIONS, state="idle") == 2
    assert _gauge(metrics.DB_POOL_CONNECTIONS, state="waiting") == 4


def test_unreachable_database_sets_db_up_to_zero() -> None:
    async def run() -> None:
        pool = AsyncConnectionPool(
            "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
            min_size=1,
            open=False,
            timeout=1.0,
        )
        await pool.open(wait=False)
        try:
            await sample_once(pool)
        finally:
            await pool.close()

    asyncio.run(run())
    assert _gauge(metrics.DB_UP) == 0
