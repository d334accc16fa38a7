"""`POST /api/internal/embeddings`: query embeddings for the edge Worker in local stacks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from service.api.deps import EmbedderDep, SettingsDep
from service.core.errors import error_responses
from service.core.exceptions import Forbidden, Invalid, NotFound, Unavailable
from service.core.origin_trust import is_from_edge, origin_trust_enabled
from service.embeddings import EmbeddingError
from service.models.knowledge import EmbeddingsRequest, EmbeddingsResponse


async def require_edge(request: Request, settings: SettingsDep) -> None:
    """The origin secret shared with the Worker (current or previous during a rotation);
    checked before the body, so the endpoint is invisible (404) when no secret is configured."""
    if not origin_trust_enabled(settings):
        raise NotFound("not_found", "Not Found")
    if not is_from_edge(request, settings):
        raise Forbidden("forbidden", "A valid X-Origin-Secret header is required.")


router = APIRouter(prefix="/api/internal", tags=["internal"], dependencies=[Depends(require_edge)])


@router.post(
    "/embeddings",
    response_model=EmbeddingsResponse,
    responses=error_responses(403, 404, 422, 503),
)
async def embeddings(body: EmbeddingsRequest, embedder: EmbedderDep) -> EmbeddingsResponse:
    """Query embeddings with the configured provider (the model loaded once per process)."""
    try:
        vectors = await embedder.embed(body.texts)
    except EmbeddingError as exc:
        kind = Invalid if exc.code == "input_too_long" else Unavailable
        raise kind(exc.code, exc.message) from exc
    return EmbeddingsResponse(
        model=embedder.model, dimensions=embedder.dimensions, embeddings=vectors
    )
