"""The RAG pipeline: scope -> query embedding -> hybrid search -> rerank -> streamed answer.

`events()` yields the SSE contract in order: `sources`, `delta`*, `citation`*, then `done`
(or `error`). The JSON endpoint consumes the same events, so both paths behave identically.
DB connections are taken from the pool only for the short steps that need them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from service.access.scope import AccessScope
from service.answers.admission import ColdPathGate, Overloaded
from service.answers.citations import CitationFilter
from service.answers.confidence import confidence
from service.answers.extractive import ExtractiveProvider
from service.answers.hooks import RagHooks
from service.answers.prompt import SYSTEM_PROMPT, build_messages
from service.answers.providers.base import LLMProvider, bounded
from service.answers.sources import source_json
from service.cache.generations import Generations, ScopeWithGenerations, scope_with_generations
from service.cache.layers import RagCache, cache_key, normalise_query
from service.core.config import Settings
from service.core.db import Pool, idle_connection
from service.core.exceptions import Unavailable
from service.search.hybrid import SearchHit, SearchParams, hybrid_search, ranking_fingerprint
from service.search.live_recall import LiveRecall
from service.search.plan import VectorPlan, configured_plan
from service.search.query_embedding import QueryEmbedder
from service.search.rerank import Reranker
from service.search.stats import ChunkStatsCache, pgvector_version

log = logging.getLogger(__name__)

Event = tuple[str, dict[str, Any]]
FALLBACK_SEPARATOR = "\n\n(The language model stopped early; continuing from the sources.)\n"


@dataclass
class QueryInput:
    query: str
    user_id: UUID
    role: str
    top_k: int = 5
    history: Sequence[dict[str, str]] = ()
    query_embedding: list[float] | None = None
    # The caller's scope, when it was read with the caller (one round trip); else read here.
    scope: ScopeWithGenerations | None = None


@dataclass
class Retrieval:
    scope: AccessScope
    generations: Generations
    hits: list[SearchHit]
    plan: dict[str, Any] | None
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)


class RagEngine:
    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        embedder: QueryEmbedder,
        cache: RagCache,
        reranker: Reranker,
        provider: LLMProvider | None,
        provider_model: str,
        hooks: RagHooks | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.embedder = embedder
        self.cache = cache
        self.reranker = reranker
        self.provider = provider
        self.provider_model = provider_model
        self.hooks = hooks or RagHooks()
        self.stats = ChunkStatsCache()
        self._pgvector: tuple[int, ...] | None = None
        self.params = SearchParams(
            model=embedder.model,
            dimensions=embedder.dimensions,
            vector_candidates=settings.search.vector_candidates,
            fts_candidates=settings.search.fts_candidates,
            rrf_k=settings.search.rrf_k,
            lexical_budget=settings.search.lexical_budget,
        )
        # Fixed for the process: computed once, not on every cached answer.
        self.ranking = ranking_fingerprint(
            self.params,
            {
                "search": settings.search.model_dump(mode="json"),
                "rerank": [reranker.name, settings.rerank.model, settings.rerank.candidates],
            },
        )
        rag = settings.rag
        self.cold = ColdPathGate(rag.cold_concurrency, rag.cold_queue, rag.cold_max_wait_seconds)
        self.live_recall = LiveRecall(
            pool, self.params, settings.search.live_recall_sample_rate, self.hooks.on_recall
        )

    async def aclose(self) -> None:
        """Releases the providers' pooled connections (for the app's shutdown)."""
        await self.live_recall.aclose()
        await self.reranker.aclose()
        if self.provider is not None:
            await self.provider.aclose()

    # ---- retrieval -------------------------------------------------------------------------

    def _embedding_key(self, inp: QueryInput, scope: AccessScope) -> str:
        return cache_key(
            "embedding",
            model=self.embedder.model,
            scope=scope.fingerprint,
            parts={"q": normalise_query(inp.query)},
        )

    async def _cached_embedding(self, inp: QueryInput, scope: AccessScope) -> list[float] | None:
        """The Worker's vector, or one cached earlier; None when it has to be computed."""
        if inp.query_embedding is not None:
            return inp.query_embedding
        cached = await self.cache.get("embedding", self._embedding_key(inp, scope))
        if isinstance(cached, list) and len(cached) == self.embedder.dimensions:
            return [float(x) for x in cached]
        return None

    async def _embed(self, inp: QueryInput, scope: AccessScope) -> list[float]:
        vector = (await self.embedder.embed([inp.query]))[0]
        await self.cache.set("embedding", self._embedding_key(inp, scope), vector)
        return vector

    async def plan_for(self, scope: AccessScope, gens: Generations) -> VectorPlan:
        async with self.pool.connection() as conn:
            if self._pgvector is None:
                self._pgvector = await pgvector_version(conn)
            counts = await self.stats.counts(conn, self.params.model, gens.everything)
        return configured_plan(
            self.settings.search,
            scope_rows=counts.scope_rows(scope),
            total_rows=counts.total,
            iterative_available=self._pgvector >= (0, 8),
        )

    def _search_key(
        self, inp: QueryInput, scope: AccessScope, gens: Generations, vector: list[float]
    ) -> str:
        return cache_key(
            "search",
            model=self.params.model,
            scope=scope.fingerprint,
            parts={
                "generation": gens.scope,
                "q": normalise_query(inp.query),
                "top_k": inp.top_k,
                "ranking": self.ranking,
                # A Worker-supplied vector may differ in the last bits from ours. Hashed as raw
                # doubles: repr() of 384 floats costs 20 times more, on every cached answer too.
                "vector": hashlib.sha256(array("d", vector).tobytes()).hexdigest()[:16],
            },
        )

    async def _cached_hits(self, key: str, scope: AccessScope) -> list[SearchHit] | None:
        cached = await self.cache.get("search", key)
        if not isinstance(cached, list):
            return None
        hits = [SearchHit.from_json(h) for h in cached]
        # Defence in depth: never hand out a cached hit the caller can't read now.
        return [h for h in hits if scope.allows(h.owner_id, h.is_public)]

    async def retrieve(self, inp: QueryInput) -> Retrieval:
        """Cached steps run at once; the cold ones (embedding, search) wait for a cold-path slot
        and raise `Overloaded` when the cold path is saturated."""
        timings: dict[str, float] = {}
        if inp.scope is not None:
            scope, gens = inp.scope
        else:
            async with self.pool.connection() as conn:
                scope, gens = await scope_with_generations(conn, inp.user_id, inp.role)
        started = time.perf_counter()
        vector = await self._cached_embedding(inp, scope)
        if vector is not None:
            timings["embed"] = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            hits = await self._cached_hits(self._search_key(inp, scope, gens, vector), scope)
            if hits is not None:
                timings["search"] = (time.perf_counter() - started) * 1000
                return Retrieval(scope, gens, hits, None, True, timings)
        async with self.cold.slot():
            if vector is None:
                started = time.perf_counter()
                vector = await self._embed(inp, scope)
                timings["embed"] = (time.perf_counter() - started) * 1000
                key = self._search_key(inp, scope, gens, vector)
                hits = await self._cached_hits(key, scope)
                if hits is not None:
                    return Retrieval(scope, gens, hits, None, True, timings)
            key = self._search_key(inp, scope, gens, vector)
            hits, plan = await self._search(inp, scope, gens, vector, timings)
        await self.cache.set("search", key, [h.to_json() for h in hits])
        return Retrieval(scope, gens, hits, plan, False, timings)

    async def _search(
        self,
        inp: QueryInput,
        scope: AccessScope,
        gens: Generations,
        vector: list[float],
        timings: dict[str, float],
    ) -> tuple[list[SearchHit], dict[str, Any]]:
        rerank_pool = (
            max(inp.top_k, self.settings.rerank.candidates)
            if self.reranker.name != "none"
            else inp.top_k
        )
        plan = await self.plan_for(scope, gens)
        async with AsyncExitStack() as stack:
            conn = await stack.enter_async_context(self.pool.connection())
            # The legs run at once only when this is the process's only cold question: with
            # others in flight the cores are already busy, and a second connection per search
            # would add contention, not speed.
            spare = (
                await stack.enter_async_context(idle_connection(self.pool))
                if self.settings.search.legs_at_once and self.cold.alone
                else None
            )
            result = await hybrid_search(
                conn,
                params=self.params,
                scope=scope,
                plan=plan,
                query_text=inp.query,
                query_vector=vector,
                limit=rerank_pool,
                spare=spare,
            )
        timings["search"] = result.total_ms
        self.hooks.on_search(result.vector_ms / 1000, result.lexical_ms / 1000)
        self.live_recall.offer(scope, gens.scope, inp.query, vector, result)
        started = time.perf_counter()
        hits = await self.reranker.rerank(inp.query, result.hits, inp.top_k)
        timings["rerank"] = (time.perf_counter() - started) * 1000
        return hits, {**plan.describe(), "legs_at_once": result.legs_at_once}

    # ---- answering -------------------------------------------------------------------------

    def _bounded(self, provider: LLMProvider, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """The provider's deltas, with a first-token timeout and an overall deadline."""
        return bounded(
            provider.stream(SYSTEM_PROMPT, messages),
            deadline=asyncio.get_running_loop().time() + self.settings.llm.timeout_seconds,
            first_item_timeout=self.settings.llm.first_token_timeout_seconds,
        )

    def _answer_key(self, inp: QueryInput, r: Retrieval) -> str:
        history = hashlib.sha256(repr(list(inp.history)).encode()).hexdigest()[:16]
        return cache_key(
            "answer",
            model=self.params.model,
            scope=r.scope.fingerprint,
            parts={
                "generation": r.generations.scope,
                "q": normalise_query(inp.query),
                "chunks": [h.chunk_id for h in r.hits],
                "llm": [self.settings.llm.provider, self.provider_model],
                "history": history,
            },
        )

    async def admit(self, inp: QueryInput) -> Retrieval | Exception:
        """Retrieval, run before a response starts so a shed question can still be a 503.

        Raises Unavailable `overloaded` (retry after 1 s) when the cold path is saturated; any
        other failure is returned, and `events` reports it as the stream's `error` event.
        """
        try:
            return await self.retrieve(inp)
        except Overloaded as exc:
            self.hooks.on_shed(exc.reason)
            raise Unavailable(
                "overloaded",
                "Too many new questions are being answered right now; retry shortly.",
                retry_after=1,
            ) from None
        except Exception as exc:
            log.exception("retrieval failed")
            return exc

    async def events(
        self, inp: QueryInput, admitted: Retrieval | Exception | None = None
    ) -> AsyncIterator[Event]:
        """The event stream; a client that goes away mid-answer is counted as `cancelled`."""
        finished = False
        try:
            async for event in self._events(inp, admitted):
                if event[0] in ("done", "error"):
                    finished = True
                yield event
        finally:
            if not finished:
                self.hooks.on_query("cancelled", "", {})

    async def _events(
        self, inp: QueryInput, admitted: Retrieval | Exception | None
    ) -> AsyncIterator[Event]:
        started = time.perf_counter()
        r = admitted if admitted is not None else await self.admit(inp)
        if isinstance(r, Exception):
            self.hooks.on_query("error", "", {})
            yield (
                "error",
                {"code": "retrieval_failed", "message": f"Search failed: {type(r).__name__}"},
            )
            return
        timings = dict(r.timings)
        hits = r.hits
        yield "sources", {"sources": [source_json(n, h) for n, h in enumerate(hits, start=1)]}

        level = confidence(hits)
        cfilter = CitationFilter(len(hits))
        answer_parts: list[str] = []
        provider_name = "extractive"
        fallback: dict[str, str] | None = None
        cached_answer = False
        llm_started = time.perf_counter()

        def emit(text: str) -> Event | None:
            out = cfilter.feed(text)
            if not out:
                return None
            if "llm_ttft" not in timings:
                timings["llm_ttft"] = (time.perf_counter() - llm_started) * 1000
            answer_parts.append(out)
            return "delta", {"text": out}

        answer_key = self._answer_key(inp, r)
        cached = await self.cache.get("answer", answer_key) if hits else None
        if isinstance(cached, dict) and isinstance(cached.get("answer"), str):
            cached_answer = True
            provider_name = str(cached.get("provider", "cache"))
            ev = emit(cached["answer"])
            if ev:
                yield ev
        elif self.provider is None or not hits:
            async for text in ExtractiveProvider(inp.query, hits).stream("", []):
                ev = emit(text)
                if ev:
                    yield ev
        else:
            provider_name = self.provider.name
            messages = build_messages(inp.query, hits, inp.history)
            try:
                async for text in self._bounded(self.provider, messages):
                    ev = emit(text)
                    if ev:
                        yield ev
                self.hooks.on_llm(provider_name, "ok")
            except Exception as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else "error"
                log.warning(
                    "llm provider failed; falling back to extractive",
                    extra={"provider": provider_name, "reason": reason, "error": repr(exc)[:200]},
                )
                self.hooks.on_llm(provider_name, reason)
                self.hooks.on_fallback(provider_name, reason)
                fallback = {"provider": provider_name, "reason": reason}
                if answer_parts:
                    ev = emit(FALLBACK_SEPARATOR)
                    if ev:
                        yield ev
                async for text in ExtractiveProvider(inp.query, hits).stream("", []):
                    ev = emit(text)
                    if ev:
                        yield ev
                provider_name = "extractive"
        tail = cfilter.flush()
        if tail:
            answer_parts.append(tail)
            yield "delta", {"text": tail}
        timings["llm"] = (time.perf_counter() - llm_started) * 1000

        for n in cfilter.cited:
            hit = hits[n - 1]
            src = source_json(n, hit)
            yield (
                "citation",
                {
                    "n": n,
                    "chunk_id": hit.chunk_id,
                    "document_id": str(hit.document_id),
                    "title": hit.title,
                    "page": hit.page_start,
                    "timestamp_seconds": hit.start_seconds,
                    "url": src["url"],
                },
            )

        answer = "".join(answer_parts)
        if hits and fallback is None and not cached_answer:
            await self.cache.set(
                "answer", answer_key, {"answer": answer, "provider": provider_name}
            )
        timings["total"] = (time.perf_counter() - started) * 1000
        timings = {k: round(v, 2) for k, v in timings.items()}
        self.hooks.on_query("ok" if hits else "no_context", level, timings)
        yield (
            "done",
            {
                "answer": answer,
                "confidence": level,
                "timings_ms": timings,
                "provider": provider_name,
                "extractive": provider_name == "extractive",
                "fallback": fallback,
                "cached": {"search": r.cached, "answer": cached_answer},
                "citations": list(cfilter.cited),
                "dropped_citations": cfilter.dropped,
                "search_plan": r.plan,
            },
        )
