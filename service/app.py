"""The app factory: settings in, a fully wired FastAPI app out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service.api.metrics import install_observability
from service.api.router import ROUTERS, build_routes
from service.cache.upkeep import sweeping as sweeping_cache
from service.container import Overrides, Services
from service.core.admission import AdmissionMiddleware
from service.core.config import Settings, get_settings
from service.core.errors import ErrorResponse, UnhandledErrorMiddleware, install_error_handlers
from service.core.logs import configure_logging
from service.core.middleware import (
    AccessLogMiddleware,
    RequestIdMiddleware,
    ServerTimingMiddleware,
)
from service.core.origin_trust import OriginEnforcementMiddleware
from service.core.ratelimit_headers import RateLimitHeadersMiddleware
from service.embeddings.factory import get_embedder
from service.observability.samplers import sampling
from service.ratelimit.upkeep import sweeping as sweeping_rate_limits
from service.storage import StorageUnavailable

log = logging.getLogger(__name__)


def _log_warmup_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("embedding model warm-up failed", extra={"error": str(task.exception())})


def create_app(settings: Settings | None = None, overrides: Overrides | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log.level, settings.log.format)
    if not settings.db.url:
        raise RuntimeError("DATABASE_URL is not set (`make up` sets it for the embedded server)")
    services = Services.build(settings, overrides)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.pool.open(wait=False)
        if settings.creates_buckets:
            try:
                await run_in_threadpool(services.store.ensure_buckets)
            except StorageUnavailable as exc:  # the API still serves everything but files
                log.warning("object storage unavailable at startup", extra={"error": str(exc)})
        if settings.embedding.warmup:
            # In the background: the API is healthy at once, the first question waits on the load.
            warmup = asyncio.create_task(run_in_threadpool(get_embedder(settings).warm_up))
            warmup.add_done_callback(_log_warmup_failure)
        await build_routes(app)
        log.info("api started", extra={"environment": settings.environment})
        try:
            async with (
                sampling(services.pool, settings.metrics.sample_seconds),
                sweeping_rate_limits(services.pool, settings.rate_limit),
                sweeping_cache(services.pool),
            ):
                yield
        finally:
            await services.aclose()

    app = FastAPI(
        title="Piano Platform API",
        version="0.1.0",
        lifespan=lifespan,
        responses={
            429: {"model": ErrorResponse, "description": "rate_limited"},
            500: {"model": ErrorResponse, "description": "internal_error"},
        },
    )
    app.state.services = services  # read only through service/api/deps.py
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_observability(
        app,
        pool=services.pool,
        version=settings.build_version,
        environment=settings.environment,
        metrics_token=settings.metrics.token.get_secret_value(),
        llm_providers=(settings.llm.provider,),
        embedding_providers=(settings.embedding.provider,),
    )
    app.add_middleware(
        AdmissionMiddleware,
        paths=frozenset({"/api/chat/query"}),
        max_in_flight=settings.rag.max_in_flight,
    )
    app.add_middleware(RateLimitHeadersMiddleware)
    if settings.origin.enforce:
        app.add_middleware(OriginEnforcementMiddleware, settings=settings)
    # Added last = outermost: request id first, so every log line and error body carries it;
    # the timing outside that, so a response's `Server-Timing` covers every layer.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(ServerTimingMiddleware)
    return app
