"""One error shape for every failure: {"error": {"code", "message", "request_id"}}.

The only place that turns failures into HTTP: domain kinds (service/core/exceptions.py) and the
infrastructure failures raised below the domain each map to one status and one message here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import DataError, OperationalError
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from service.core.exceptions import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    ServiceError,
    TooLarge,
    Unauthenticated,
    Unavailable,
    Unsupported,
    UnsupportedMediaType,
)
from service.core.middleware import HttpMiddleware, on_response_start
from service.core.ratelimit_headers import quota_headers
from service.core.request_context import current_request_id
from service.storage import StorageUnavailable

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "request_id": current_request_id(),
    }
    if details:
        body["details"] = details
    return {"error": body}


def error_response(
    status_code: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, details), status_code=status_code, headers=headers
    )


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries so every route documents its error bodies."""
    return {
        s: {"model": ErrorResponse, "description": _STATUS_CODES.get(s, "error")} for s in statuses
    }


_STATUS_OF_KIND: dict[type[ServiceError], int] = {
    Unsupported: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    Invalid: 422,
    RateLimited: 429,
    Unavailable: 503,
}

# Raised by the pool and the object store, below the domain; one wording each for every route.
DATABASE_UNAVAILABLE = Unavailable("database_unavailable", "The database is not answering.")
STORAGE_UNAVAILABLE = Unavailable(
    "storage_unavailable", "Object storage is not answering; retry shortly."
)


def service_error_response(exc: ServiceError) -> JSONResponse:
    status = next((s for kind, s in _STATUS_OF_KIND.items() if isinstance(exc, kind)), 500)
    headers = None
    if isinstance(exc, Unauthenticated) and exc.challenge:
        headers = {"WWW-Authenticate": exc.challenge}
    if isinstance(exc, RateLimited):
        headers = quota_headers(exc.quota, refused=True)
    return error_response(status, exc.code, exc.message, headers, exc.details)


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return service_error_response(exc)


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # DB down, a connection lost mid-request, or every pooled connection busy for the whole pool
    # timeout. Logged: the body says only "unavailable", the log says which.
    log.warning("database unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
    return service_error_response(DATABASE_UNAVAILABLE)


async def _storage_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return service_error_response(STORAGE_UNAVAILABLE)


async def _bad_data(_: Request, exc: Exception) -> JSONResponse:
    # The schema refuses what PostgreSQL can't store (service/models/text.py); anything that
    # still reaches it is bad input the schema missed, never a server fault: a 4xx, and logged
    # so the schema can be tightened.
    log.warning(
        "database refused a value", extra={"error": type(exc).__name__, "detail": str(exc)[:200]}
    )
    return error_response(422, "invalid_value", "A value in the request can't be stored.")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": list(err.get("loc", ())),
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        | ({"ctx": {k: _jsonable(v) for k, v in err["ctx"].items()}} if err.get("ctx") else {})
        for err in exc.errors()
    ]
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    return error_response(422, "validation_error", f"{where}: {first['msg']}", details=details)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    # A pooled connection the server dropped (restart, failover, network): the pool replaces it.
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(StorageUnavailable, _storage_unavailable)
    # DataError: NUL in text, numbers out of range, invalid encodings; CheckViolation: a value
    # the table's own constraints refuse.
    app.add_exception_handler(DataError, _bad_data)
    app.add_exception_handler(pg_errors.CheckViolation, _bad_data)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class UnhandledErrorMiddleware(HttpMiddleware):
    """Turns unexpected exceptions into the JSON error shape (inside the request-id scope)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started: list[Message] = []
        try:
            await self.app(scope, receive, on_response_start(send, started.append))
        except Exception:
            log.exception("unhandled error")
            if started:
                raise
            response = error_response(500, "internal_error", "An unexpected error occurred.")
            await response(scope, receive, send)
