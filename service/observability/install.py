"""One call that wires metrics into an app, so the app factory stays a list of steps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from service.cache.layers import LAYERS
from service.observability.http_metrics import HttpMetricsMiddleware
from service.observability.metrics import prime_label_sets, set_build_info
from service.observability.router import build_metrics_router
from service.observability.samplers import AsyncStatsPool, StatsPool, observe_pool, run_samplers


def install_observability(
    app: FastAPI,
    *,
    pool: StatsPool,
    version: str,
    environment: str,
    metrics_token: str | None = None,
    llm_providers: tuple[str, ...] = (),
    embedding_providers: tuple[str, ...] = (),
) -> None:
    """Add the HTTP middleware and ``GET /api/metrics``, publish build info, prime label sets.

    Call before the other middlewares are added if request-id and error middlewares should sit
    outside it (Starlette: added last = outermost). ``metrics_token=None`` reads METRICS_TOKEN.
    """
    set_build_info(version=version, environment=environment)
    prime_label_sets(
        llm_providers=llm_providers,
        embedding_providers=embedding_providers,
        cache_layers=LAYERS,
    )

    app.include_router(
        build_metrics_router(token=metrics_token, scrape_hooks=[lambda: observe_pool(pool)])
    )
    app.add_middleware(HttpMetricsMiddleware)


@contextlib.asynccontextmanager
async def sampling(pool: AsyncStatsPool, interval_seconds: float = 15.0) -> AsyncIterator[None]:
    """Run the gauge samplers for the lifetime of the ``async with`` block (use in the lifespan)."""
    task = asyncio.create_task(run_samplers(pool, interval_seconds))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
