from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import AuthDep
from service.core.errors import error_responses
from service.core.exceptions import NotFound

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", responses=error_responses(404))
async def jwks(auth: AuthDep) -> JSONResponse:
    """Public keys for verifying our access tokens (current and still-accepted rotated keys)."""
    if auth.keys is None:
        raise NotFound("not_found", "This deployment does not issue its own tokens.")
    body: dict[str, Any] = auth.keys.current().jwks()
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})
