"""Versioned, scope-aware keys and fail-open access for the three cache layers."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

from service.cache.backends import CacheBackend

log = logging.getLogger(__name__)

Layer = Literal["embedding", "search", "answer"]
LAYERS: tuple[Layer, ...] = ("embedding", "search", "answer")
# Bump when the cached shapes change: old entries then simply stop matching.
KEY_VERSION = "v1"

CacheResult = Literal["hit", "miss", "error"]  # the cache_requests_total result label
CacheHook = Callable[[str, CacheResult], None]


def normalise_query(text: str) -> str:
    return " ".join(text.lower().split())


def cache_key(layer: Layer, *, model: str, scope: str, parts: dict[str, Any]) -> str:
    """sha256 over the layer, model, caller scope and every input that changes the value."""
    payload = json.dumps(
        {"layer": layer, "model": model, "scope": scope, **parts},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return f"rag:{KEY_VERSION}:{layer}:{hashlib.sha256(payload.encode()).hexdigest()}"


class RagCache:
    """Never raises: a backend error counts as a miss (and an `error`), and the caller carries on."""

    def __init__(
        self, backend: CacheBackend, ttls: dict[Layer, int], hook: CacheHook | None = None
    ) -> None:
        self.backend = backend
        self.ttls = ttls
        self.counts: Counter[tuple[str, str]] = Counter()
        self.hook = hook

    def _count(self, layer: str, result: CacheResult) -> None:
        self.counts[(layer, result)] += 1
        if self.hook is not None:
            self.hook(layer, result)

    async def get(self, layer: Layer, key: str) -> Any | None:
        try:
            value = await self.backend.get(key)
        except Exception as exc:
            log.warning("cache get failed; continuing without it", extra={"error": repr(exc)})
            self._count(layer, "error")
            return None
        self._count(layer, "hit" if value is not None else "miss")
        return value

    async def set(self, layer: Layer, key: str, value: Any) -> None:
        ttl = self.ttls.get(layer, 0)
        if ttl <= 0:
            return
        try:
            await self.backend.set(key, layer, value, ttl)
        except Exception as exc:
            log.warning("cache set failed; continuing without it", extra={"error": repr(exc)})
            self._count(layer, "error")

    async def purge(self, layer: Layer | None) -> int:
        return await self.backend.purge(layer)
