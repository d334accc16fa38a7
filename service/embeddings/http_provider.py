"""What every HTTP embedding provider shares: batching, one client per call, POST with retries."""

from __future__ import annotations

from typing import Any

import httpx

from service.embeddings.base import EmbeddingError, batches, check_lengths
from service.embeddings.retry import raise_for_retryable, with_retries


class HttpEmbedder:
    """Subclasses set the fields below and implement `_embed_batch` (request body, response shape)."""

    model: str
    dimensions: int
    max_tokens: int
    batch_size: int
    url: str
    max_attempts: int
    backoff_seconds: float
    timeout: httpx.Timeout
    _headers: dict[str, str]
    provider_label: str  # names the provider in rejection errors
    retry_label: str  # names the provider (or URL) in retry logs and exhausted-retry errors

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        check_lengths(self, texts)
        out: list[list[float]] = []
        async with httpx.AsyncClient(timeout=self.timeout, headers=self._headers) as client:
            for batch in batches(texts, self.batch_size):
                out.extend(await self._embed_batch(client, batch))
        return out

    async def _embed_batch(self, client: httpx.AsyncClient, batch: list[str]) -> list[list[float]]:
        raise NotImplementedError

    async def _post_json(
        self, client: httpx.AsyncClient, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """POST with bounded retries on 429/5xx/network errors; other 4xx fail at once."""

        async def call() -> dict[str, Any]:
            response = await client.post(self.url, json=payload)
            raise_for_retryable(response)
            if response.status_code >= 400:
                raise EmbeddingError(
                    "embedding_provider_rejected",
                    f"{self.provider_label} answered HTTP {response.status_code}: {response.text[:300]}",
                )
            body: dict[str, Any] = response.json()
            return body

        return await with_retries(call, self.max_attempts, self.backoff_seconds, self.retry_label)
