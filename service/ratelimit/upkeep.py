"""Expired counters and stale login failures are deleted in the background, every few minutes,
by each API process (the statements are idempotent, so instances never need to coordinate)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from service.core.background import repeating
from service.core.config import RateLimitSettings
from service.core.db import Pool
from service.ratelimit.login import sweep_stale
from service.ratelimit.storage import sweep_expired


@contextlib.asynccontextmanager
async def sweeping(
    pool: Pool, settings: RateLimitSettings, every: float = 300
) -> AsyncIterator[None]:
    async def sweep() -> None:
        async with pool.connection() as conn:
            await sweep_expired(conn)
            await sweep_stale(conn, 2 * settings.login_backoff_max_seconds)

    async with repeating(sweep, every, "rate-limit sweep"):
        yield
