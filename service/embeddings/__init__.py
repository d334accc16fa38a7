"""Text embeddings behind one small interface, so ingestion and query-time search share providers."""

from service.embeddings.base import (
    Embedder,
    EmbeddingConfigError,
    EmbeddingError,
    InputTooLongError,
)
from service.embeddings.factory import get_embedder

__all__ = [
    "Embedder",
    "EmbeddingConfigError",
    "EmbeddingError",
    "InputTooLongError",
    "get_embedder",
]
