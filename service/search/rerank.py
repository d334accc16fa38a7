"""Pluggable re-ranking of fused hits: `none` keeps the RRF order; `workers-ai` calls bge-reranker."""

from __future__ import annotations

from typing import Protocol

import httpx

from service.search.hybrid import SearchHit


class Reranker(Protocol):
    name: str

    async def rerank(self, query: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]: ...


class NoRerank:
    name = "none"

    async def rerank(self, query: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]:
        return hits[:top_k]


class WorkersAIRerank:
    """POST /accounts/{id}/ai/run/@cf/baai/bge-reranker-base {query, contexts:[{text}], top_k}.

    The response is {"result": {"response": [{"id": <context index>, "score": float}]}}.
    On any failure the RRF order is kept: re-ranking is an improvement, never a dependency.
    """

    name = "workers-ai"

    def __init__(self, base_url: str, account_id: str, token: str, model: str, timeout: float):
        self._url = f"{base_url.rstrip('/')}/accounts/{account_id}/ai/run/{model}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    async def rerank(self, query: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]:
        if len(hits) <= 1:
            return hits[:top_k]
        body = {"query": query, "contexts": [{"text": h.content} for h in hits], "top_k": top_k}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                r = await client.post(self._url, json=body, headers=self._headers)
                r.raise_for_status()
                ranked = r.json()["result"]["response"]
            out: list[SearchHit] = []
            for item in ranked:
                hit = hits[int(item["id"])]
                hit.extra["rrf"] = hit.score
                hit.score = float(item["score"])
                out.append(hit)
            return out[:top_k]
        except (httpx.HTTPError, KeyError, ValueError, IndexError, TypeError):
            return hits[:top_k]
