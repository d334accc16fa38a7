"""Cloudflare Workers AI over its REST API (`POST /accounts/{id}/ai/run/{model}`)."""

from __future__ import annotations

from service.embeddings.base import EmbeddingError, normalise
from service.embeddings.http_provider import HttpEmbedder
from service.embeddings.tokens import count_wordpiece
from service.providers.cloudflare import WorkersAIAccount

WORKERS_AI_MODEL = "@cf/baai/bge-base-en-v1.5"
WORKERS_AI_DIMENSIONS = 768
# Cloudflare documents "Max input tokens: 512" for bge-base-en-v1.5 (BERT uncased WordPiece).
WORKERS_AI_MAX_TOKENS = 512


class WorkersAIEmbedder(HttpEmbedder):
    def __init__(
        self,
        *,
        base_url: str,
        account_id: str,
        api_token: str,
        model: str = WORKERS_AI_MODEL,
        dimensions: int = WORKERS_AI_DIMENSIONS,
        max_tokens: int = WORKERS_AI_MAX_TOKENS,
        batch_size: int = 50,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 30.0,
    ) -> None:
        if not account_id or not api_token:
            raise EmbeddingError(
                "embedding_not_configured",
                "workers-ai needs CLOUDFLARE_ACCOUNT_ID and WORKERS_AI_API_TOKEN.",
            )
        account = WorkersAIAccount(base_url, account_id, api_token)
        super().__init__(
            model=model,
            dimensions=dimensions,
            max_tokens=max_tokens,
            batch_size=batch_size,
            url=account.run_url(model),
            headers=account.headers,
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            timeout_seconds=timeout_seconds,
            provider_label="Workers AI",
            retry_label="Workers AI",
        )

    def count_tokens(self, text: str) -> int:
        return count_wordpiece(text)

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        body = await self._post({"text": batch})
        # REST wraps the model output in Cloudflare's envelope: {"result": {"shape", "data"}, ...}.
        if body.get("success") is False:
            raise EmbeddingError("embedding_provider_rejected", f"Workers AI: {body.get('errors')}")
        result = body.get("result", body)
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, list) or len(data) != len(batch):
            raise EmbeddingError("embedding_bad_response", "Workers AI returned no usable data.")
        vectors = [normalise(v) for v in data]
        if any(len(v) != self.dimensions for v in vectors):
            raise EmbeddingError(
                "embedding_dimension_mismatch",
                f"Workers AI returned vectors not of the configured {self.dimensions} dimensions.",
            )
        return vectors
