"""``GET /api/metrics``: the Prometheus exposition, token-protected, and the one call that wires
metrics into an app (middleware, endpoint, build info, primed label sets)."""

from __future__ import annotations

import hmac
import os
import uuid
from collections.abc import Callable

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from service.cache.layers import LAYERS
from service.core.http_metrics import HttpMetricsMiddleware
from service.observability.exposition import exposition
from service.observability.metrics import prime_label_sets, set_build_info
from service.observability.samplers import StatsPool, observe_pool

METRICS_PATH = "/api/metrics"
TOKEN_ENV = "METRICS_TOKEN"  # noqa: S105 - the variable name, not a secret

ScrapeHook = Callable[[], None]


def build_metrics_router(
    token: str | None = None,
    scrape_hooks: list[ScrapeHook] | None = None,
) -> APIRouter:
    """Router for the metrics endpoint.

    ``token``: required bearer token; ``None`` reads ``METRICS_TOKEN`` per request and an empty
    value disables the check (local runs). The public edge forwards only requests that carry it.
    ``scrape_hooks`` refresh sampled gauges (e.g. pool stats) right before each scrape.
    """
    router = APIRouter(tags=["observability"])
    hooks = list(scrape_hooks or [])

    @router.get(METRICS_PATH, include_in_schema=False, response_model=None)
    def metrics(request: Request) -> Response:
        expected = token if token is not None else os.environ.get(TOKEN_ENV, "")
        if expected and not _bearer_matches(request, expected):
            return _unauthorized(request)
        for hook in hooks:
            hook()
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return router


def _bearer_matches(request: Request, expected: str) -> bool:
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not supplied:
        return False
    return hmac.compare_digest(supplied.strip().encode(), expected.encode())


def _unauthorized(request: Request) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) or request.headers.get(
        "x-request-id", uuid.uuid4().hex
    )
    body = {
        "error": {
            "code": "metrics_unauthorized",
            "message": "GET /api/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'.",
            "request_id": request_id,
        }
    }
    return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})


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
