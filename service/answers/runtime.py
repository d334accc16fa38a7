"""Builds the RAG engine, and the cache it uses, from settings."""

from __future__ import annotations

from service.answers.engine import RagEngine
from service.answers.hooks import RagHooks
from service.answers.providers.factory import build_provider, provider_model
from service.cache.backends import (
    CacheBackend,
    MemoryCache,
    NearCache,
    NullCache,
    PostgresCache,
)
from service.cache.layers import RagCache
from service.core.config import Settings
from service.core.db import Pool
from service.search.query_embedding import QueryEmbedder
from service.search.rerank import build_reranker


def build_cache(settings: Settings, pool: Pool, hooks: RagHooks) -> RagCache:
    backend: CacheBackend
    if settings.cache.backend == "postgres":
        backend = PostgresCache(pool)
        if settings.cache.near_ttl_seconds > 0:
            backend = NearCache(
                backend, settings.cache.near_ttl_seconds, settings.cache.near_max_entries
            )
    elif settings.cache.backend == "memory":
        backend = MemoryCache()
    else:
        backend = NullCache()
    return RagCache(
        backend,
        {
            "embedding": settings.cache.embedding_ttl_seconds,
            "search": settings.cache.search_ttl_seconds,
            "answer": settings.cache.answer_ttl_seconds,
        },
        hook=hooks.on_cache,
    )


def build_engine(
    settings: Settings, pool: Pool, embedder: QueryEmbedder, hooks: RagHooks
) -> RagEngine:
    """Nothing here connects: the pool opens with the app, providers on their first request."""
    return RagEngine(
        settings,
        pool,
        embedder,
        build_cache(settings, pool, hooks),
        build_reranker(settings),
        build_provider(settings),
        provider_model(settings),
        hooks,
    )
