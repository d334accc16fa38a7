"""Counts and times every embedding call, whichever provider serves it (ingestion and queries)."""

from __future__ import annotations

import time

from service.embeddings.base import Embedder
from service.observability.metrics import EMBEDDING_BATCH_DURATION, EMBEDDING_REQUESTS


class InstrumentedEmbedder:
    """Wraps a provider; `inner` is the provider itself (its own methods, e.g. `load`, stay reachable)."""

    def __init__(self, inner: Embedder, provider: str) -> None:
        self.inner = inner
        self.provider = provider
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.max_tokens = inner.max_tokens

    def warm_up(self) -> None:
        """Load a local model now (blocking), so the first question doesn't pay for it."""
        load = getattr(self.inner, "load", None)
        if callable(load):
            load()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        try:
            vectors = await self.inner.embed(texts)
        except Exception:
            EMBEDDING_REQUESTS.labels(self.provider, "error").inc()
            raise
        EMBEDDING_REQUESTS.labels(self.provider, "success").inc()
        EMBEDDING_BATCH_DURATION.labels(self.provider).observe(time.perf_counter() - started)
        return vectors
