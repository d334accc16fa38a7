"""Where CPU-bound parsing runs, so the worker's event loop (heartbeats, other jobs) never waits.

`InThread` is the default for library callers and tests. The worker uses `ProcessPool`: parsers
run in child processes (pebble) that are killed at their deadline or when the job is cancelled,
so a pathological file costs one child process, never the worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import pebble

from service.knowledge.extracted import ExtractionError

log = logging.getLogger(__name__)
T = TypeVar("T")

# A child is replaced after this many parses, so whatever a parser leaks doesn't pile up.
_TASKS_PER_CHILD = 50


class Offload(Protocol):
    async def run(self, fn: Callable[..., T], *args: Any) -> T: ...


class InThread:
    """Runs `fn` in the default thread pool (no deadline of its own: the caller sets one)."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


class ProcessPool:
    """`fn` and its arguments must pickle (module-level functions, bytes, dataclasses)."""

    def __init__(self, workers: int, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._pool = pebble.ProcessPool(
            max_workers=workers,
            max_tasks=_TASKS_PER_CHILD,
            # Not fork: the worker has threads (psycopg pool, asyncio) a fork would copy mid-lock.
            context=multiprocessing.get_context("spawn"),
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        future = self._pool.schedule(fn, args=args, timeout=self.timeout_seconds)
        try:
            # Cancelling the awaiting task (the job's own deadline) cancels the future, and pebble
            # stops the child that was running it.
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError as exc:
            raise ExtractionError(
                "parse_timeout",
                f"Reading the file took longer than {self.timeout_seconds:g} s and was stopped.",
            ) from exc
        except pebble.ProcessExpired as exc:
            log.warning("parser process died", extra={"exitcode": exc.exitcode})
            raise ExtractionError(
                "parse_crashed", "The file crashed the parser; it can't be indexed as it is."
            ) from exc

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)
