"""Live recall: a sample of real searches is run again exactly, off the request path.

For a sampled search the vector leg's top 10 is compared with an exact nearest-neighbour search
over the same scope, and the lexical leg's top 10 with BM25 over every matching chunk (no posting
budget). Each comparison reports (leg, found, expected): recall@10 is found / expected summed
over the samples, which is what the metric exports and the alert watches.

Samples wait in a small bounded queue for one background task; when it is full a sample is
dropped rather than queued (a sample is a measurement, never worth holding a request for). The
task rests between checks so they use at most `MAX_DUTY` of one database connection's time,
however expensive exact search gets. A sample whose knowledge changed before its check (a
document published in between) is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from service.access.scope import AccessScope
from service.cache.generations import generations
from service.core.db import Pool
from service.search.hybrid import HybridResult, SearchParams, vector_literal
from service.search.lexical import exhaustive_candidates
from service.search.plan import VectorPlan
from service.search.vector import apply_plan_settings, vector_candidates

log = logging.getLogger(__name__)

K = 10
QUEUE_SIZE = 8
# Exact search over a large scope is expensive: the checks may keep one connection busy at most
# this share of the time (after a check that took d seconds, the worker rests d * 9).
MAX_DUTY = 0.1

RecallHook = Callable[[str, int, int], None]  # leg, found, expected


@dataclass(frozen=True)
class Sample:
    scope: AccessScope
    generation: int
    query_text: str
    vector: list[float]
    vector_ids: list[int]
    lexical_ids: list[int]


class LiveRecall:
    def __init__(
        self,
        pool: Pool,
        params: SearchParams,
        sample_rate: float,
        on_result: RecallHook,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.pool = pool
        self.params = params
        self.sample_rate = sample_rate
        self.on_result = on_result
        self._rng = rng or random.Random()
        self._queue: asyncio.Queue[Sample] | None = None
        self._worker: asyncio.Task[None] | None = None

    def offer(
        self,
        scope: AccessScope,
        generation: int,
        query_text: str,
        vector: list[float],
        result: HybridResult,
    ) -> bool:
        """Maybe take this search as a sample; never blocks. True when it was queued."""
        if self.sample_rate <= 0 or self._rng.random() >= self.sample_rate:
            return False
        if self._queue is None:
            self._queue = asyncio.Queue(QUEUE_SIZE)
            self._worker = asyncio.create_task(self._run(self._queue), name="live-recall")
        sample = Sample(
            scope, generation, query_text, vector, result.vector_ids[:K], result.lexical_ids[:K]
        )
        try:
            self._queue.put_nowait(sample)
        except asyncio.QueueFull:
            log.info("live recall sample dropped: checks are behind")
            return False
        return True

    async def _run(self, queue: asyncio.Queue[Sample]) -> None:
        while True:
            sample = await queue.get()
            started = time.perf_counter()
            try:
                await self.check(sample)
            except Exception:
                log.exception("live recall check failed")
            await asyncio.sleep((time.perf_counter() - started) * (1 - MAX_DUTY) / MAX_DUTY)

    async def check(self, sample: Sample) -> dict[str, tuple[int, int]] | None:
        """Exact top 10 per leg vs what the live search returned; None if the data moved."""
        exact_plan = VectorPlan("exact", self.params.vector_candidates)
        args = {
            "qv": vector_literal(sample.vector),
            "vk": K,
            "qt": sample.query_text,
            "fk": K,
        }
        async with self.pool.connection() as conn, conn.transaction():
            if (await generations(conn, sample.scope)).scope != sample.generation:
                return None
            await apply_plan_settings(conn, exact_plan)
            cur = await conn.execute(
                vector_candidates(
                    self.params.model, self.params.dimensions, sample.scope, exact_plan
                ),
                args,
            )
            exact_vector = [r["id"] for r in await cur.fetchall()]
            cur = await conn.execute(exhaustive_candidates(self.params.model, sample.scope), args)
            exact_lexical = [r["id"] for r in await cur.fetchall()]
        out = {
            "vector": (len(set(exact_vector) & set(sample.vector_ids)), len(exact_vector)),
            "lexical": (len(set(exact_lexical) & set(sample.lexical_ids)), len(exact_lexical)),
        }
        for leg, (found, expected) in out.items():
            if expected:
                self.on_result(leg, found, expected)
        return out

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
            self._queue = None
