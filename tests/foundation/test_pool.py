"""`idle_connection`: a second connection when the pool has one idle, else None without waiting."""

from __future__ import annotations

import asyncio

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service.core.db import Conn, idle_connection


def test_idle_connection_is_a_spare_one_or_none(db_url: str) -> None:
    async def run() -> None:
        pool = AsyncConnectionPool[Conn](
            db_url,
            min_size=2,
            max_size=2,
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=False,
        )
        await pool.open(wait=True)
        try:
            async with pool.connection() as held:
                async with idle_connection(pool) as spare:
                    assert spare is not None and spare is not held
                    assert pool.get_stats()["pool_available"] == 0
                    # The pool is spent: a third asker gets None at once instead of queueing
                    # behind the two holders (it would wait the pool's whole timeout otherwise).
                    async with idle_connection(pool) as third:
                        assert third is None
                    assert pool.get_stats().get("requests_waiting", 0) == 0
                    cur = await spare.execute("SELECT 1 AS one")
                    assert await cur.fetchone() == {"one": 1}
                # Given back on leaving, even though the holder still has its own.
                assert pool.get_stats()["pool_available"] == 1
            assert pool.get_stats()["pool_available"] == 2
        finally:
            await pool.close()

    asyncio.run(run())


def test_idle_connection_gives_back_on_error(db_url: str) -> None:
    async def run() -> int:
        pool = AsyncConnectionPool[Conn](
            db_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
        )
        await pool.open(wait=True)
        try:
            try:
                async with idle_connection(pool) as spare:
                    assert spare is not None
                    raise LookupError("the caller failed")
            except LookupError:
                pass
            return pool.get_stats()["pool_available"]
        finally:
            await pool.close()

    assert asyncio.run(run()) == 1
