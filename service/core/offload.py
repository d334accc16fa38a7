"""CPU-heavy work in a separate process, so it holds neither the event loop nor its GIL.

A thread doesn't help with pure-Python or pydantic work: validation holds the GIL for its whole
run, and the event loop waits for it just the same. One worker process per API process, started
on first use (spawned, so it never inherits the parent's threads or connections).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _executor(*, renew: bool = False) -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if renew and _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
            _pool = None
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return _pool


async def in_process(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the worker process; `fn` and its arguments must be picklable."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor(), fn, *args)
    except BrokenProcessPool:  # the worker died (killed, out of memory): start a new one
        return await loop.run_in_executor(_executor(renew=True), fn, *args)
