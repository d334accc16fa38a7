"""Load shedding for RAG queries: past a bounded number in flight per process, answer 503 at once.

Under overload a fast, explicit `503 overloaded` with Retry-After lets clients (and the load
balancer) back off, instead of every query queueing until it times out. It is ASGI middleware so a
slot is held for exactly as long as the request runs, streamed (SSE) answers included, and is
released however the request ends.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.errors import error_response
from service.core.middleware import HttpMiddleware


class AdmissionMiddleware(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, paths: frozenset[str], max_in_flight: int) -> None:
        super().__init__(app)
        self.paths = paths
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # one event loop per process: no lock needed between awaits

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] not in self.paths or not self.max_in_flight:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            response = error_response(
                503,
                "overloaded",
                "Too many questions are being answered right now; retry shortly.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
