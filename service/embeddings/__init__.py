"""Text embeddings behind one small interface, so ingestion and query-time search share providers."""

from service.embeddings.base import Embedder, EmbeddingError, InputTooLongError
from service.embeddings.factory import get_embedder

__all__ = ["Embedder", "EmbeddingError", "InputTooLongError", "get_embedder"]
