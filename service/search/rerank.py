"""Pluggable re-ranking of fused hits: `none` keeps the RRF order; `workers-ai` calls bge-reranker."""

from __future__ import annotations

from typing import Protocol

import httpx

from service.core.config import Settings
from service.providers.cloudflare import WorkersAIAccount
from service.providers.http import HttpProvider, ProviderError
from service.providers.retry import NO_RETRY
from service.search.hybrid import SearchHit


class Reranker(Protocol):
    name: str

    async def rerank(self, query: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]: ...

    async def aclose(self) -> None: ...


class NoRerank:
    name = "none"

    async def rerank(self, query: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]:
        return hits[:top_k]

    async def aclose(self) -> None:
        pass


class WorkersAIRerank(HttpProvider):
    """POST /accounts/{id}/ai/run/@cf/baai/bge-reranker-base {query, contexts:[{text}], top_k}.

    The response is {"result": {"response": [{"id": <context index>, "score": float}]}}.
    On any failure the RRF order is kept: re-ranking is an improvement, never a dependency, so
    a failed call is not retried either (a retry would spend the answer's latency budget).
    """

    name = "workers-ai"

    def __init__(self, account: WorkersAIAccount, model: str, timeout: float) -> None:
        super().__init__(
            url=account.run_url(model),
            headers=account.headers,
            timeout=timeout,
            retry=NO_RETRY,
            label="Workers AI re-ranker",
        )

    async def rerank(self, query: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]:
        if len(hits) <= 1:
            return hits[:top_k]
        body = {"query": query, "contexts": [{"text": h.content} for h in hits], "top_k": top_k}
        try:
            ranked = (await self.post_json(body))["result"]["response"]
            out: list[SearchHit] = []
            for item in ranked:
                hit = hits[int(item["id"])]
                hit.extra["rrf"] = hit.score
                hit.score = float(item["score"])
                out.append(hit)
            return out[:top_k]
        except (ProviderError, httpx.HTTPError, KeyError, ValueError, IndexError, TypeError):
            return hits[:top_k]


def build_reranker(settings: Settings) -> Reranker:
    if settings.rerank.provider == "workers-ai":
        return WorkersAIRerank(
            WorkersAIAccount.from_settings(settings),
            settings.rerank.model,
            settings.rerank.timeout_seconds,
        )
    return NoRerank()
