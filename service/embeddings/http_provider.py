"""What every HTTP embedding provider shares: batching over the provider base's POST with retries."""

from __future__ import annotations

from typing import Any

from service.embeddings.base import EmbeddingError, batches, check_lengths
from service.providers.http import (
    HttpProvider,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnreachable,
)
from service.providers.retry import RetryPolicy


class HttpEmbedder(HttpProvider):
    """Subclasses call `__init__` and implement `_embed_batch` (request body, response shape)."""

    def __init__(
        self,
        *,
        model: str,
        dimensions: int,
        max_tokens: int,
        batch_size: int,
        url: str,
        headers: dict[str, str],
        max_attempts: int,
        backoff_seconds: float,
        timeout_seconds: float,
        provider_label: str,
        retry_label: str,
    ) -> None:
        super().__init__(
            url=url,
            headers=headers,
            timeout=timeout_seconds,
            retry=RetryPolicy(attempts=max_attempts, backoff_seconds=backoff_seconds),
            label=retry_label,  # names the provider (or URL) in retry logs and exhausted retries
        )
        self.model = model
        self.dimensions = dimensions
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.provider_label = provider_label  # names the provider in rejection errors

    def count_tokens(self, text: str) -> int:
        raise NotImplementedError

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        check_lengths(self, texts)
        out: list[list[float]] = []
        for batch in batches(texts, self.batch_size):
            out.extend(await self._embed_batch(batch))
        return out

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        raise NotImplementedError

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with bounded retries on 429/5xx/network errors; other 4xx fail at once."""
        try:
            body: dict[str, Any] = await self.post_json(payload)
        except ProviderRejected as exc:
            raise EmbeddingError(
                "embedding_provider_rejected",
                f"{self.provider_label} answered HTTP {exc.status}: {exc.body[:300]}",
            ) from exc
        except ProviderUnavailable as exc:
            raise EmbeddingError("embedding_provider_unavailable", str(exc)) from exc
        except ProviderUnreachable as exc:
            raise EmbeddingError("embedding_provider_unreachable", str(exc)) from exc
        return body
