"""Where CPU-bound parsing runs, so the worker's event loop (heartbeats, other jobs) never waits.

`InThread` is the default for library callers and tests. The worker uses `ParserPool`: parsers
run in the service's process pool (service/core/offload.py), whose children are killed at their
deadline or when the job is cancelled, so a pathological file costs one child process, never the
worker. Here the pool's failures become the file's `ExtractionError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from service.core.offload import ProcessPool, WorkerDied, WorkTimedOut
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


class ParserPool:
    """Parsers in child processes with a deadline per file."""

    def __init__(self, workers: int, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._pool = ProcessPool(workers, timeout_seconds, tasks_per_child=_TASKS_PER_CHILD)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._pool.run(fn, *args)
        except WorkTimedOut as exc:
            raise ExtractionError(
                "parse_timeout",
                f"Reading the file took longer than {self.timeout_seconds:g} s and was stopped.",
            ) from exc
        except WorkerDied as exc:
            log.warning("parser process died", extra={"exitcode": exc.exitcode})
            raise ExtractionError(
                "parse_crashed", "The file crashed the parser; it can't be indexed as it is."
            ) from exc

    def close(self) -> None:
        self._pool.close()
