"""The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-07: RateLimit-Limit,
-Remaining, -Reset in delta seconds, and RateLimit-Policy `limit;w=window`) on every response
that spent a limit, plus Retry-After on a 429.

The dependency that charges a bucket leaves the Quota in `scope["state"]["rate_limits"]`; this
middleware reports the tightest one when the response starts, so streamed answers carry them too.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from service.core.middleware import HttpMiddleware, on_response_start
from service.core.quota import Quota, tightest

STATE_KEY = "rate_limits"


def quota_headers(quota: Quota, *, refused: bool = False) -> dict[str, str]:
    headers = {
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset_seconds),
        "RateLimit-Policy": f"{quota.limit};w={quota.window_seconds}",
    }
    if refused:
        headers["Retry-After"] = str(max(1, quota.reset_seconds))
    return headers


class RateLimitHeadersMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        def add(message: Message) -> None:
            quota = tightest(scope.get("state", {}).get(STATE_KEY, []))
            if quota is None:
                return
            present = {k.lower() for k, _ in message.get("headers", [])}
            if b"ratelimit-limit" in present:  # a 429 already carries its own
                return
            message["headers"] = [
                *message.get("headers", []),
                *((k.lower().encode(), v.encode()) for k, v in quota_headers(quota).items()),
            ]

        await self.app(scope, receive, on_response_start(send, add))
