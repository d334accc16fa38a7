"""HTTP request metrics recorded by a pure-ASGI middleware.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses are passed through message by message.
"""

from __future__ import annotations

import time

from starlette.types import Message, Receive, Scope, Send

from service.core.middleware import HttpMiddleware
from service.observability.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "other"
# Any client can send any token as a method (`X123 /api/health`); only these name a series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(scope: Scope) -> str:
    method = str(scope.get("method", "GET")).upper()
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_template(scope: Scope) -> str:
    """The matched route's path template, never the raw path (raw paths explode cardinality)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class HttpMetricsMiddleware(HttpMiddleware):
    """Counts and times every HTTP request by route template, method and status.

    The duration runs until the last body chunk is sent. For ``text/event-stream`` responses it
    stops at the response headers instead: a stream's length measures the answer, which the RAG
    metrics already time per stage, not the API's responsiveness.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = 500
        recorded = False

        def record() -> None:
            nonlocal recorded
            if recorded:
                return
            recorded = True
            labels = {
                "route": route_template(scope),
                "method": method_label(scope),
                "status": str(status),
            }
            HTTP_REQUEST_DURATION.labels(**labels).observe(time.perf_counter() - start)
            HTTP_REQUESTS.labels(**labels).inc()

        async def send_and_time(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if _is_event_stream(message):
                    record()
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                record()

        try:
            await self.app(scope, receive, send_and_time)
        finally:
            # Covers exceptions before the response started (recorded as 500) and clients
            # that disconnect mid-stream (recorded with the status already sent).
            record()


def _is_event_stream(message: Message) -> bool:
    for name, value in message.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).lower().startswith(b"text/event-stream")
    return False
