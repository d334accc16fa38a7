"""The API process's long-lived parts, built once by the app factory and handed out typed.

Routes reach these through service/api/deps.py; nothing else holds them. Tests swap parts with
`create_app(settings, overrides=Overrides(...))`, so everything else is wired as in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from service.answers.engine import RagEngine
from service.answers.hooks import RagHooks
from service.answers.runtime import build_engine
from service.answers.telemetry import metric_hooks
from service.auth.provider import AuthContext, build_auth
from service.core.config import Settings
from service.core.db import Pool, create_pool
from service.knowledge.queue import QueueClient
from service.search.query_embedding import QueryEmbedder, query_embedder
from service.storage import ObjectStore


@runtime_checkable
class Closeable(Protocol):
    """Clients that pool connections (LLM providers, rerankers) and must release them."""

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Overrides:
    """Parts to use instead of building them from settings."""

    embedder: QueryEmbedder | None = None  # e.g. one model loaded once for a whole test session
    rag_hooks: RagHooks | None = None  # telemetry; defaults to the Prometheus metrics


@dataclass(frozen=True)
class Services:
    settings: Settings
    pool: Pool  # opened by the lifespan, so the API starts (and answers 503) while the DB is down
    auth: AuthContext
    store: ObjectStore
    queue: QueueClient  # knowledge processing jobs; connects on first use
    embedder: QueryEmbedder
    engine: RagEngine

    @classmethod
    def build(cls, settings: Settings, overrides: Overrides | None = None) -> Services:
        overrides = overrides or Overrides()
        pool = create_pool(settings, settings.database_url)
        embedder = overrides.embedder or query_embedder(settings)
        hooks = overrides.rag_hooks or metric_hooks()
        return cls(
            settings=settings,
            pool=pool,
            auth=build_auth(settings),
            store=ObjectStore(settings),
            queue=QueueClient(settings.database_url),
            embedder=embedder,
            engine=build_engine(settings, pool, embedder, hooks),
        )

    async def aclose(self) -> None:
        """The embedder is process-wide (shared with other apps and the worker): left open."""
        await self.queue.close()
        for client in (self.engine.provider, self.engine.reranker):
            if isinstance(client, Closeable):
                await client.aclose()
        await self.pool.close()
