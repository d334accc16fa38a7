"""CPU work in other processes, so it holds neither the event loop nor its GIL.

A thread doesn't help with pure-Python or pydantic work: validation and parsing hold the GIL for
their whole run, and the event loop waits just the same. `ProcessPool` is the one way the service
runs work elsewhere: child processes (pebble) that are spawned, never forked (the parent has
threads: psycopg pools, asyncio, a fork would copy them mid-lock), killed at their deadline or
when the awaiting task is cancelled, and replaced when they die. Callers map `WorkTimedOut` and
`WorkerDied` to their own domain errors.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import pebble

T = TypeVar("T")

# Guards swapping pools (the API's shared one, a broken one's replacement).
_lock = threading.Lock()


class WorkTimedOut(Exception):
    """The work ran past the pool's deadline; its child process was stopped."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(f"stopped after {timeout_seconds:g} s")
        self.timeout_seconds = timeout_seconds


class WorkerDied(Exception):
    """The child process running the work died (killed, out of memory, a crash in C code)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"worker process exited with {exitcode}")
        self.exitcode = exitcode


class ProcessPool:
    """`fn` and its arguments must pickle (module-level functions, bytes, dataclasses).

    The children start on first use. `tasks_per_child` replaces a child after that many runs, so
    whatever the work leaks doesn't pile up (0: never).
    """

    def __init__(
        self, workers: int, timeout_seconds: float | None = None, tasks_per_child: int = 0
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self._workers = workers
        self._tasks_per_child = tasks_per_child
        self._pool = self._new_pool()

    def _new_pool(self) -> pebble.ProcessPool:
        return pebble.ProcessPool(
            max_workers=self._workers,
            max_tasks=self._tasks_per_child,
            context=multiprocessing.get_context("spawn"),
        )

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        pool = self._pool
        try:
            future = pool.schedule(fn, args=args, timeout=self.timeout_seconds)
            # Cancelling the awaiting task cancels the future, and pebble stops the child that was
            # running it.
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError as exc:
            raise WorkTimedOut(self.timeout_seconds or 0) from exc
        except pebble.ProcessExpired as exc:
            raise WorkerDied(exc.exitcode) from exc
        except BrokenProcessPool as exc:
            # Pebble gives a pool up when its children can't start or all die at once; the next
            # run gets a fresh one.
            with _lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            pool.stop()
            raise WorkerDied(None) from exc

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)


# The API's own pool: one child per API process, started on first use.
_shared: ProcessPool | None = None


def _shared_pool() -> ProcessPool:
    global _shared
    with _lock:
        if _shared is None:
            _shared = ProcessPool(1)
        return _shared


async def in_process(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the API's worker process; `fn` and its arguments must pickle."""
    try:
        return await _shared_pool().run(fn, *args)
    except WorkerDied:  # killed under it (out of memory, an operator): once more in a fresh child
        return await _shared_pool().run(fn, *args)
