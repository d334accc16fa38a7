"""A loop that runs beside the app for as long as an `async with` block (a lifespan) lasts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


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
