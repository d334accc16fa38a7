"""Is this request from our edge Worker? Checked by a shared secret header, constant-time.

Both the current and the previous secret are accepted, so the secret can rotate without downtime:
set the new value as current and the old one as previous on the origin, update the Worker, then
clear previous.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from service.core.config import Settings

ORIGIN_SECRET_HEADER = "x-origin-secret"  # noqa: S105 - a header name


def origin_trust_enabled(settings: Settings) -> bool:
    return bool(settings.origin.shared_secret.get_secret_value())


def is_from_edge(request: Request, settings: Settings) -> bool:
    presented = request.headers.get(ORIGIN_SECRET_HEADER, "")
    if not presented or not origin_trust_enabled(settings):
        return False
    candidates = [
        settings.origin.shared_secret.get_secret_value(),
        settings.origin.shared_secret_previous.get_secret_value(),
    ]
    return any(c and hmac.compare_digest(presented.encode(), c.encode()) for c in candidates)
