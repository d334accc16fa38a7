"""Any server speaking OpenAI's `POST /embeddings` (OpenAI, vLLM, Ollama, TEI, ...)."""

from __future__ import annotations

from service.embeddings.base import EmbeddingError, normalise
from service.embeddings.http_provider import HttpEmbedder
from service.embeddings.tokens import count_cl100k
from service.providers.http import bearer

# text-embedding-3-*'s documented input limit, in cl100k_base tokens.
OPENAI_DEFAULT_MAX_TOKENS = 8191


class OpenAICompatibleEmbedder(HttpEmbedder):
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        dimensions: int,
        max_tokens: int = OPENAI_DEFAULT_MAX_TOKENS,
        batch_size: int = 50,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 30.0,
    ) -> None:
        if not base_url or not model or dimensions <= 0:
            raise EmbeddingError(
                "embedding_not_configured",
                "openai-compatible needs OPENAI_BASE_URL, EMBEDDING_MODEL and EMBEDDING_DIMENSIONS.",
            )
        url = f"{base_url.rstrip('/')}/embeddings"
        super().__init__(
            model=model,
            dimensions=dimensions,
            max_tokens=max_tokens,
            batch_size=batch_size,
            url=url,
            headers=bearer(api_key),
            max_attempts=max_attempts,
            backoff_seconds=backoff_seconds,
            timeout_seconds=timeout_seconds,
            provider_label="Embedding server",
            retry_label=url,
        )

    def count_tokens(self, text: str) -> int:
        return count_cl100k(text)

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        body = await self._post({"model": self.model, "input": batch, "encoding_format": "float"})
        items = body.get("data")
        if not isinstance(items, list) or len(items) != len(batch):
            raise EmbeddingError("embedding_bad_response", "Embedding server returned no data.")
        ordered = sorted(items, key=lambda item: int(item.get("index", 0)))
        vectors = [normalise(item["embedding"]) for item in ordered]
        if any(len(v) != self.dimensions for v in vectors):
            raise EmbeddingError(
                "embedding_dimension_mismatch",
                f"Embedding server returned vectors not of {self.dimensions} dimensions.",
            )
        return vectors
