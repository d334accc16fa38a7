"""The query embedder: the knowledge base's embedder, so queries and chunks share one model.

A question may be longer than the model reads (all-MiniLM-L6-v2 stops at 256 word pieces, about
1,000 characters of English; the API accepts 2,000). Chunks are never cut, since their text
must match their vector, but a query's vector is only a pointer into the index: its head, cut
to what the model reads, is embedded, while full-text search still uses the whole question.
"""

from __future__ import annotations

from typing import Protocol

from service.core.config import Settings
from service.embeddings.factory import get_embedder


class QueryEmbedder(Protocol):
    model: str
    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class _Counting(Protocol):
    max_tokens: int

    def count_tokens(self, text: str) -> int: ...


def fit_to_model(text: str, counter: _Counting) -> str:
    """The longest prefix of `text` (cut at a space where there is one) the model reads whole."""
    if counter.count_tokens(text) <= counter.max_tokens:
        return text
    low, high = 0, len(text)  # low always fits, high never does
    while high - low > 1:
        mid = (low + high) // 2
        if counter.count_tokens(text[:mid]) <= counter.max_tokens:
            low = mid
        else:
            high = mid
    head = text[:low]
    space = head.rfind(" ")
    return head[:space] if space > len(head) // 2 else head


class FittedQueryEmbedder:
    """Embeds each query cut to the model's input limit (when the model states one)."""

    def __init__(self, inner: QueryEmbedder) -> None:
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions

    def fit(self, text: str) -> str:
        if not (hasattr(self.inner, "max_tokens") and hasattr(self.inner, "count_tokens")):
            return text
        return fit_to_model(text, self.inner)  # type: ignore[arg-type]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self.inner.embed([self.fit(t) for t in texts])

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # warm_up, count_tokens, ... of the wrapped embedder


def query_embedder(settings: Settings) -> QueryEmbedder:
    return FittedQueryEmbedder(get_embedder(settings))
