"""`POST /api/internal/embeddings`: query embeddings for the edge Worker in local stacks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header

from service.api.deps import SettingsDep
from service.core.errors import APIError, error_responses
from service.embeddings import EmbeddingError, get_embedder
from service.models.knowledge import EmbeddingsRequest, EmbeddingsResponse

router = APIRouter(prefix="/api/internal", tags=["internal"])


@router.post(
    "/embeddings",
    response_model=EmbeddingsResponse,
    responses=error_responses(403, 404, 422, 503),
)
async def embeddings(
    body: EmbeddingsRequest,
    settings: SettingsDep,
    x_origin_secret: Annotated[str | None, Header()] = None,
) -> EmbeddingsResponse:
    """Guarded by the origin secret shared with the Worker; off (404) when none is configured."""
    secret = settings.origin_shared_secret.get_secret_value()
    if not secret:
        raise APIError(404, "not_found", "Not Found")
    if not x_origin_secret or not hmac.compare_digest(x_origin_secret, secret):
        raise APIError(403, "forbidden", "A valid X-Origin-Secret header is required.")
    embedder = get_embedder(settings)
    try:
        vectors = await embedder.embed(body.texts)
    except EmbeddingError as exc:
        status = 422 if exc.code == "input_too_long" else 503
        raise APIError(status, exc.code, exc.message) from exc
    return EmbeddingsResponse(
        model=embedder.model, dimensions=embedder.dimensions, embeddings=vectors
    )
