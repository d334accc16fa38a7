"""The client's address: the edge's word for it when the request provably comes from our edge,
otherwise the connecting socket. A client-sent X-Forwarded-For is never believed on its own, so
rotating it can't dodge a per-IP limit."""

from __future__ import annotations

from starlette.requests import Request

from service.core.config import Settings
from service.core.origin_trust import is_from_edge


def client_ip(request: Request, settings: Settings) -> str:
    if is_from_edge(request, settings):
        # The Worker replaces X-Forwarded-For with Cloudflare's CF-Connecting-IP; the load
        # balancer then appends its own hops, so the first entry is the Worker's.
        first = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
        if first:
            return first[:64]
    return request.client.host if request.client else "unknown"
