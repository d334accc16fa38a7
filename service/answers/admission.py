"""Admission for cold questions: the work a cached answer doesn't need waits here, nothing else.

A question whose embedding, search and answer are cached costs a few cache reads and never
enters this gate, so it never waits behind cold questions. A cold question needs a slot to embed
the query and run the hybrid search: `concurrency` run at once, later ones wait in arrival order.
A question is shed (`Overloaded`) only when the cold path is really saturated: the queue is full,
or a full round of questions already waits and the wait it would face (its place in the queue
times the recent cold-path time per slot) exceeds `max_wait_seconds`, or it waited that long
without getting a slot.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# Weight of the newest cold-path time in the running average that estimates waits.
_EWMA_ALPHA = 0.2


class Overloaded(Exception):
    """The cold path can't take this question now; `reason` says which limit was hit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GateState:
    running: int
    waiting: int
    service_seconds: float


class ColdPathGate:
    """One per process (one event loop): counters need no lock between awaits."""

    def __init__(self, concurrency: int, max_queue: int, max_wait_seconds: float) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.max_queue = max_queue
        self.max_wait_seconds = max_wait_seconds
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._service_seconds = 0.0  # running average of one cold path's time

    @property
    def state(self) -> GateState:
        return GateState(self._running, len(self._waiters), self._service_seconds)

    @property
    def alone(self) -> bool:
        """At most one question holds a slot and none waits: a caller holding a slot is the only
        cold work in this process."""
        return self._running <= 1 and not self._waiters

    def _estimated_wait(self) -> float:
        ahead = len(self._waiters) + 1
        return -(-ahead // self.concurrency) * self._service_seconds

    async def _acquire(self) -> None:
        if self._running < self.concurrency and not self._waiters:
            self._running += 1
            return
        if len(self._waiters) >= self.max_queue:
            raise Overloaded("queue_full")
        # A prediction only sheds behind a full round of waiters; shorter queues just wait.
        if (
            len(self._waiters) >= self.concurrency
            and self._estimated_wait() > self.max_wait_seconds
        ):
            raise Overloaded("wait_estimate")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait_seconds)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the slot was handed over just as we gave up: pass it on
            else:
                waiter.cancel()
                self._waiters.remove(waiter)
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise Overloaded("wait_timeout") from None
        # The releasing question handed its slot straight to us (_running unchanged).

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._running -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self._acquire()
        started = time.perf_counter()
        try:
            yield
        finally:
            # Capped, so one outlier (a model loading, a stalled connection) can't make every
            # later question look too slow to admit.
            elapsed = min(time.perf_counter() - started, self.max_wait_seconds)
            self._service_seconds = (
                elapsed
                if self._service_seconds == 0
                else (1 - _EWMA_ALPHA) * self._service_seconds + _EWMA_ALPHA * elapsed
            )
            self._release()
