"""`GET /api/internal/caller`: the edge Worker asks whether a request's credentials are good
before it spends anything on it (a Workers AI embedding, a KV write). Free for the caller: the
request the edge then forwards is the one that counts against their limits."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from service.api.deps import Caller
from service.api.routes.internal_embeddings import require_edge
from service.core.errors import error_responses

router = APIRouter(prefix="/api/internal", tags=["internal"], dependencies=[Depends(require_edge)])


@router.get(
    "/caller",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def check_caller(user: Caller) -> Response:
    """204 when the bearer token or X-API-Key names an active user; the usual 401/403 if not."""
    return Response(status_code=status.HTTP_204_NO_CONTENT)
