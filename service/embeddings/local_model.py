"""What the models run inside this process share: the optional extra they need, one load per
process, MiniLM's WordPiece token count, and encoding on a thread so the event loop keeps going.

Both local providers run all-MiniLM-L6-v2 (float on torch, int8 on ONNX Runtime); they differ only
in how the model is opened and run, which is all a subclass gives.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from abc import ABC, abstractmethod
from typing import Any

from service.embeddings.base import EmbeddingConfigError, check_lengths
from service.embeddings.tokens import count_wordpiece

LOCAL_EXTRA = "local-embeddings"


def require_extra(provider: str, modules: tuple[str, ...]) -> None:
    """Fail at construction, with the fix in the message, rather than at the first embedding.

    Production embeds with Workers AI and installs none of the extra, so its modules are imported
    only when a local provider is chosen."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise EmbeddingConfigError(
            "embedding_provider_not_installed",
            f"{provider} needs the '{LOCAL_EXTRA}' extra, which is not installed "
            f"(missing: {', '.join(missing)}). Install piano-platform[{LOCAL_EXTRA}], or set "
            "EMBEDDING_PROVIDER to workers-ai or openai-compatible.",
        )


class LocalModelEmbedder(ABC):
    """Loaded lazily, once per process; `_open` loads the model, `_encode` runs it."""

    model: str
    dimensions: int
    # The model's own input limit in word pieces, [CLS] and [SEP] included.
    max_tokens: int

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._loaded: Any = None
        self._load_lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return count_wordpiece(text)

    def load(self) -> Any:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._open()
        return self._loaded

    @abstractmethod
    def _open(self) -> Any: ...

    @abstractmethod
    def _encode(self, texts: list[str]) -> list[list[float]]: ...

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        check_lengths(self, texts)
        return await asyncio.to_thread(self._encode, texts)
