"""The query embedder: the knowledge base's embedder, so queries and chunks share one model."""

from __future__ import annotations

from typing import Protocol

from service.core.config import Settings
from service.embeddings.factory import get_embedder


class QueryEmbedder(Protocol):
    model: str
    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


def query_embedder(settings: Settings) -> QueryEmbedder:
    embedder: QueryEmbedder = get_embedder(settings)
    return embedder
