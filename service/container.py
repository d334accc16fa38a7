"""The API process's long-lived parts, built once by the app factory and handed out typed.

Routes reach these through service/api/deps.py; nothing else holds them. Tests swap parts with
`create_app(settings, overrides=Overrides(...))`, so everything else is wired as in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from service.answers.engine import RagEngine
from service.answers.hooks import RagHooks
from service.answers.runtime import build_engine
from service.answers.telemetry import metric_hooks
from service.auth.provider import AuthContext, build_auth
from service.core.config import Settings
from service.core.db import Pool, create_pool
from service.knowledge.queue import QueueClient
from service.ratelimit import LoginGuard, RateLimits
from service.search.query_embedding import QueryEmbedder, query_embedder
from service.storage import ObjectStore


@dataclass(frozen=True)
class Overrides:
    """Parts to use instead of building them from settings."""

    embedder: QueryEmbedder | None = None  # e.g. one model loaded once for a whole test session
    rag_hooks: RagHooks | None = None  # telemetry; defaults to the Prometheus metrics


@dataclass
class Services:
    settings: Settings
    pool: Pool  # opened by the lifespan, so the API starts (and answers 503) while the DB is down
    auth: AuthContext
    store: ObjectStore
    queue: QueueClient  # knowledge processing jobs; connects on first use
    rate_limits: RateLimits  # counted in PostgreSQL, shared by every instance
    login_guard: LoginGuard
    overrides: Overrides = field(default_factory=Overrides)

    @classmethod
    def build(cls, settings: Settings, overrides: Overrides | None = None) -> Services:
        rate_limits = RateLimits(settings.rate_limit)
        return cls(
            settings=settings,
            pool=create_pool(settings, settings.db.url),
            auth=build_auth(settings),
            store=ObjectStore(settings),
            queue=QueueClient.from_settings(settings),
            rate_limits=rate_limits,
            login_guard=LoginGuard(settings.rate_limit, rate_limits),
            overrides=overrides or Overrides(),
        )

    # Built on first use: the local model's package is an optional install, and an API whose
    # embeddings come from a remote provider must start without it.
    @cached_property
    def embedder(self) -> QueryEmbedder:
        return self.overrides.embedder or query_embedder(self.settings)

    @cached_property
    def engine(self) -> RagEngine:
        hooks = self.overrides.rag_hooks or metric_hooks()
        return build_engine(self.settings, self.pool, self.embedder, hooks)

    async def aclose(self) -> None:
        """The embedder is process-wide (shared with other apps and the worker): left open."""
        await self.queue.close()
        if "engine" in self.__dict__:  # only if a question built it
            await self.engine.aclose()  # the LLM provider's and re-ranker's pooled connections
        await self.pool.close()
