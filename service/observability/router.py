"""``GET /api/metrics``: Prometheus exposition, token-protected, multi-process aware."""

from __future__ import annotations

import hmac
import os
import uuid
from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

METRICS_PATH = "/api/metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
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


def exposition() -> bytes:
    """Merge all worker processes' files in multi-process mode, else the in-process registry."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def mark_process_dead(pid: int) -> None:
    """Call from the process manager's child-exit hook so ``live*`` gauges drop the dead worker."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


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
