"""Picks the provider from settings; one instance per process so the local model loads once."""

from __future__ import annotations

import threading
from typing import TypedDict

from service.core.config import Settings
from service.embeddings.base import Embedder
from service.embeddings.instrumented import InstrumentedEmbedder
from service.embeddings.local import LOCAL_DIMENSIONS, LOCAL_MODEL, LocalEmbedder
from service.embeddings.local_onnx import ONNX_MODEL, OnnxLocalEmbedder
from service.embeddings.openai_compatible import (
    OPENAI_DEFAULT_MAX_TOKENS,
    OpenAICompatibleEmbedder,
)
from service.embeddings.workers_ai import (
    WORKERS_AI_DIMENSIONS,
    WORKERS_AI_MAX_TOKENS,
    WORKERS_AI_MODEL,
    WorkersAIEmbedder,
)

# EMBEDDING_PROVIDER=local serves the same network two ways (their vectors differ slightly, so
# each is its own model): torch float32, or ONNX Runtime with int8 weights. The int8 one is the
# default: as good on every query set and about three times faster per question
# (loadtest/results/retrieval-eval.md, embedding-bench.md).
LOCAL_MODELS = (ONNX_MODEL, LOCAL_MODEL)
LOCAL_DEFAULT_MODEL = ONNX_MODEL


def local_model_name(settings: Settings) -> str:
    """The model EMBEDDING_PROVIDER=local embeds with under these settings."""
    return settings.embedding.model or LOCAL_DEFAULT_MODEL


_lock = threading.Lock()
_instances: dict[tuple[object, ...], InstrumentedEmbedder] = {}


def _key(settings: Settings) -> tuple[object, ...]:
    return (
        settings.embedding.provider,
        settings.embedding.model,
        settings.embedding.dimensions,
        settings.embedding.max_tokens,
        settings.embedding.batch_size,
        settings.embedding.max_attempts,
        settings.embedding.backoff_seconds,
        settings.cloudflare.workers_ai_base_url,
        settings.cloudflare.account_id,
        settings.embedding.openai_base_url,
    )


class _HttpOptions(TypedDict):
    """The HTTP providers' shared tuning, typed so `**` stays checked."""

    batch_size: int
    max_attempts: int
    backoff_seconds: float
    timeout_seconds: float


def build_embedder(settings: Settings) -> Embedder:
    common: _HttpOptions = {
        "batch_size": settings.embedding.batch_size,
        "max_attempts": settings.embedding.max_attempts,
        "backoff_seconds": settings.embedding.backoff_seconds,
        "timeout_seconds": settings.embedding.timeout_seconds,
    }
    if settings.embedding.provider == "local":
        model = local_model_name(settings)
        if model not in LOCAL_MODELS or settings.embedding.dimensions not in (0, LOCAL_DIMENSIONS):
            raise ValueError(
                f"the local provider serves {' and '.join(LOCAL_MODELS)} ({LOCAL_DIMENSIONS}-dim)"
            )
        if model == ONNX_MODEL:
            return OnnxLocalEmbedder(batch_size=settings.embedding.batch_size)
        return LocalEmbedder(batch_size=settings.embedding.batch_size)
    if settings.embedding.provider == "workers-ai":
        return WorkersAIEmbedder(
            base_url=settings.cloudflare.workers_ai_base_url,
            account_id=settings.cloudflare.account_id,
            api_token=settings.cloudflare.workers_ai_api_token.get_secret_value(),
            model=settings.embedding.model or WORKERS_AI_MODEL,
            dimensions=settings.embedding.dimensions or WORKERS_AI_DIMENSIONS,
            max_tokens=settings.embedding.max_tokens or WORKERS_AI_MAX_TOKENS,
            **common,
        )
    return OpenAICompatibleEmbedder(
        base_url=settings.embedding.openai_base_url,
        api_key=settings.embedding.openai_api_key.get_secret_value(),
        model=settings.embedding.model,
        dimensions=settings.embedding.dimensions,
        max_tokens=settings.embedding.max_tokens or OPENAI_DEFAULT_MAX_TOKENS,
        **common,
    )


def get_embedder(settings: Settings) -> InstrumentedEmbedder:
    """The process-wide embedder for these settings (the API reuses it for query embeddings)."""
    key = _key(settings)
    with _lock:
        embedder = _instances.get(key)
        if embedder is None:
            embedder = InstrumentedEmbedder(build_embedder(settings), settings.embedding.provider)
            _instances[key] = embedder
        return embedder
