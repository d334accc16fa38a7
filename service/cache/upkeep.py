"""Expired cache rows are deleted in the background, every few minutes, by each API process (the
statement is idempotent, so instances never need to coordinate)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from service.cache.backends import sweep_expired
from service.core.background import repeating
from service.core.db import Pool


@contextlib.asynccontextmanager
async def sweeping(pool: Pool, every: float = 300) -> AsyncIterator[None]:
    async def sweep() -> None:
        async with pool.connection() as conn:
            await sweep_expired(conn)

    async with repeating(sweep, every, "cache sweep"):
        yield
