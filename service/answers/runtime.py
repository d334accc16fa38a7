"""Builds the RAG engine once per app, on first use (the pool exists only after start-up)."""

from __future__ import annotations

from fastapi import FastAPI

from service.answers.engine import RagEngine
from service.answers.hooks import RagHooks
from service.answers.providers.factory import build_provider, provider_model
from service.answers.telemetry import metric_hooks
from service.cache.backends import CacheBackend, MemoryCache, NullCache, PostgresCache
from service.cache.layers import RagCache
from service.core.config import Settings
from service.core.db import Pool
from service.search.query_embedding import QueryEmbedder, query_embedder
from service.search.rerank import build_reranker


def build_cache(settings: Settings, pool: Pool, hooks: RagHooks) -> RagCache:
    backend: CacheBackend
    if settings.cache_backend == "postgres":
        backend = PostgresCache(pool)
    elif settings.cache_backend == "memory":
        backend = MemoryCache()
    else:
        backend = NullCache()
    return RagCache(
        backend,
        {
            "embedding": settings.cache_embedding_ttl_seconds,
            "search": settings.cache_search_ttl_seconds,
            "answer": settings.cache_answer_ttl_seconds,
        },
        hook=hooks.on_cache,
    )


def get_engine(app: FastAPI) -> RagEngine:
    engine: RagEngine | None = getattr(app.state, "rag_engine", None)
    if engine is None:
        settings: Settings = app.state.settings
        hooks: RagHooks = getattr(app.state, "rag_hooks", None) or metric_hooks()
        # Tests (and the eval harness) may pre-set app.state.rag_embedder.
        embedder: QueryEmbedder = getattr(app.state, "rag_embedder", None) or query_embedder(
            settings
        )
        engine = RagEngine(
            settings,
            app.state.pool,
            embedder,
            build_cache(settings, app.state.pool, hooks),
            build_reranker(settings),
            build_provider(settings),
            provider_model(settings),
            hooks,
        )
        app.state.rag_engine = engine
    return engine
