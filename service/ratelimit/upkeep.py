"""Expired counters and stale login failures are deleted in the background, every few minutes,
by each API process (the statements are idempotent, so instances never need to coordinate)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from service.core.background import running
from service.core.config import RateLimitSettings
from service.core.db import Pool
from service.ratelimit.login import sweep_stale
from service.ratelimit.storage import sweep_expired

log = logging.getLogger(__name__)


async def _sweep_forever(pool: Pool, settings: RateLimitSettings, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            async with pool.connection() as conn:
                await sweep_expired(conn)
                await sweep_stale(conn, 2 * settings.login_backoff_max_seconds)
        except Exception as exc:  # the DB may be down; the next round tries again
            log.warning("rate-limit sweep failed", extra={"error": repr(exc)[:200]})


@contextlib.asynccontextmanager
async def sweeping(
    pool: Pool, settings: RateLimitSettings, every: float = 300
) -> AsyncIterator[None]:
    async with running(_sweep_forever(pool, settings, every)):
        yield
