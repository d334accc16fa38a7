"""Pass-through ASGI middleware every request runs through: its time in the API, its id, its
access-log line, and the base the service's other HTTP middleware share.

Pure ASGI (not BaseHTTPMiddleware) so streamed (SSE) responses pass through message by message.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.request_context import request_id_var

REQUEST_ID_HEADER = "x-request-id"
SERVER_TIMING_HEADER = "server-timing"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("service.access")


class HttpMiddleware:
    """Sees HTTP requests only (`handle`); lifespan and other scopes pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def on_response_start(send: Send, hook: Callable[[Message], None]) -> Send:
    """`send`, calling `hook` with the response-start message (status, headers) on its way."""

    async def watched(message: Message) -> None:
        if message["type"] == "http.response.start":
            hook(message)
        await send(message)

    return watched


class RequestIdMiddleware(HttpMiddleware):
    """A caller-supplied X-Request-ID is kept only if it is short and printable; otherwise we mint
    one, so log injection through the header is impossible."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == REQUEST_ID_HEADER.encode():
                incoming = value.decode("latin-1")
                break
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid

        def add_id(message: Message) -> None:
            headers = [
                (k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER.encode()
            ]
            headers.append((REQUEST_ID_HEADER.encode(), rid.encode()))
            message["headers"] = headers

        try:
            await self.app(scope, receive, on_response_start(send, add_id))
        finally:
            request_id_var.reset(token)


class ServerTimingMiddleware(HttpMiddleware):
    """Every response says how long the API took to start it: `Server-Timing: app;dur=<ms>`.

    The W3C header, so browsers' developer tools and load generators read it as is. A client's
    own time minus `app` is what happened outside the service (network, queues, the client), which
    is how a load test tells a slow service from a busy machine. Measured to the response start,
    so a stream reports its time to first byte, not its length.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()

        def add_timing(message: Message) -> None:
            ms = (time.perf_counter() - start) * 1000
            message["headers"] = [
                *message.get("headers", []),
                (SERVER_TIMING_HEADER.encode(), f"app;dur={ms:.1f}".encode()),
            ]

        await self.app(scope, receive, on_response_start(send, add_timing))


class AccessLogMiddleware(HttpMiddleware):
    """Logs one line per request once the response has started, with status and latency."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = {"code": 500}

        def capture(message: Message) -> None:
            status["code"] = message["status"]

        try:
            await self.app(scope, receive, on_response_start(send, capture))
        finally:
            access_log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "client": (scope.get("client") or ("-",))[0],
                },
            )
