"""Is this request from our edge Worker? Checked by a shared secret header, constant-time.

Both the current and the previous secret are accepted, so the secret can rotate without downtime:
set the new value as current and the old one as previous on the origin, update the Worker, then
clear previous.

With ORIGIN_ENFORCE=true (production, `make up`) `OriginEnforcementMiddleware` refuses every
request that does not carry the secret: the load balancer admits all of Cloudflare, including
other customers' Workers, so the secret is what makes the edge the only way in. The probes are
exempt (Google's health checkers call the instances directly), and so is the metrics scrape when
it is guarded by its own bearer token (the in-VPC Prometheus calls the instances directly).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from service.core.config import Settings
from service.core.errors import error_response
from service.core.middleware import HttpMiddleware

ORIGIN_SECRET_HEADER = "x-origin-secret"  # noqa: S105 - a header name

# Liveness, readiness and the legacy health check: answered to anyone, never anything private.
PROBE_PATHS = frozenset({"/api/live", "/api/ready", "/api/health"})
METRICS_PATH = "/api/metrics"


def origin_trust_enabled(settings: Settings) -> bool:
    return bool(settings.origin.shared_secret.get_secret_value())


def secret_matches(presented: str, settings: Settings) -> bool:
    """`presented` is the current or the previous secret (compared in constant time)."""
    if not presented or not origin_trust_enabled(settings):
        return False
    candidates = [
        settings.origin.shared_secret.get_secret_value(),
        settings.origin.shared_secret_previous.get_secret_value(),
    ]
    return any(c and hmac.compare_digest(presented.encode(), c.encode()) for c in candidates)


def is_from_edge(request: Request, settings: Settings) -> bool:
    return secret_matches(request.headers.get(ORIGIN_SECRET_HEADER, ""), settings)


def exempt_paths(settings: Settings) -> frozenset[str]:
    """Paths answered without the secret even when it is enforced."""
    if settings.metrics.token.get_secret_value():
        return PROBE_PATHS | {METRICS_PATH}
    return PROBE_PATHS


class OriginEnforcementMiddleware(HttpMiddleware):
    """403 in the error shape for a request without the edge's secret (ORIGIN_ENFORCE=true)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.settings = settings
        self.exempt = exempt_paths(settings)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path", "") in self.exempt:
            await self.app(scope, receive, send)
            return
        presented = ""
        for name, value in scope.get("headers", []):
            if name == ORIGIN_SECRET_HEADER.encode():
                presented = value.decode("latin-1")
                break
        if secret_matches(presented, self.settings):
            await self.app(scope, receive, send)
            return
        if presented:
            code, message = "origin_secret_invalid", "X-Origin-Secret is not the edge's secret."
        else:
            code, message = (
                "origin_secret_required",
                "This API is reached through the edge; direct requests need X-Origin-Secret.",
            )
        await error_response(403, code, message)(scope, receive, send)
