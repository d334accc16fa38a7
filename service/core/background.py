"""A loop that runs beside the app for as long as an `async with` block (a lifespan) lasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running(loop: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Starts `loop` as a task and cancels it (waiting until it has stopped) when the block ends,
    so shutdown never leaves it running against a closed pool."""
    task = asyncio.create_task(loop)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def repeating(
    job: Callable[[], Awaitable[object]], every: float, what: str, *, at_once: bool = False
) -> AsyncIterator[None]:
    """Runs `job` every `every` seconds while the block lasts (`at_once`: also as it begins, for
    readings that should exist from the start). A failing round is logged and the next one tries
    again: upkeep must outlive a database that is down for a while."""

    async def loop() -> None:
        if not at_once:
            await asyncio.sleep(every)
        while True:
            try:
                await job()
            except Exception as exc:
                log.warning(f"{what} failed", extra={"error": repr(exc)[:200]})
            await asyncio.sleep(every)

    async with running(loop()):
        yield
