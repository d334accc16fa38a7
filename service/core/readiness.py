"""Can this instance serve traffic? The database answers, its schema carries every migration this
install ships, and object storage answers; all three checked at once, within a fixed budget.

A schema ahead of the install (a newer release migrated, then this one rolled back to) is ready:
migrations are expand/contract, so release N runs on N+1's schema.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from starlette.concurrency import run_in_threadpool

from service.core.db import Pool
from service.core.migrations import APPLIED_MIGRATIONS_SQL, shipped_migration_ids
from service.storage import ObjectStore

DbState = Literal["ok", "unavailable"]
MigrationState = Literal["ok", "behind", "unknown"]
StorageState = Literal["ok", "unavailable"]


@dataclass(frozen=True)
class Readiness:
    database: DbState
    migrations: MigrationState
    storage: StorageState
    schema_head: str | None  # the newest migration this install ships
    missing_migrations: list[str] = field(default_factory=list)
    database_latency_ms: float | None = None

    @property
    def ready(self) -> bool:
        return self.database == "ok" and self.migrations == "ok" and self.storage == "ok"


async def _schema(pool: Pool, budget_s: float) -> tuple[DbState, MigrationState, list[str], float]:
    shipped = shipped_migration_ids()
    start = time.perf_counter()
    try:
        async with asyncio.timeout(budget_s), pool.connection(timeout=budget_s) as conn:
            try:
                cur = await conn.execute(APPLIED_MIGRATIONS_SQL)
                applied = {row["migration_id"] for row in await cur.fetchall()}
            except psycopg.errors.UndefinedTable:  # never migrated
                applied = set()
    except Exception:
        return "unavailable", "unknown", [], 0.0
    latency = round((time.perf_counter() - start) * 1000, 2)
    missing = [m for m in shipped if m not in applied]
    return "ok", ("behind" if missing or not shipped else "ok"), missing, latency


async def _storage(store: ObjectStore, budget_s: float) -> StorageState:
    try:
        async with asyncio.timeout(budget_s):
            await run_in_threadpool(store.probe, budget_s)
    except Exception:
        return "unavailable"
    return "ok"


async def check_readiness(pool: Pool, store: ObjectStore, budget_s: float) -> Readiness:
    (database, migrations, missing, latency), storage = await asyncio.gather(
        _schema(pool, budget_s), _storage(store, budget_s)
    )
    shipped = shipped_migration_ids()
    return Readiness(
        database=database,
        migrations=migrations,
        storage=storage,
        schema_head=shipped[-1] if shipped else None,
        missing_migrations=missing,
        database_latency_ms=latency if database == "ok" else None,
    )
