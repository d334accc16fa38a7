"""OpenAI-compatible chat completions (hosted OpenAI, vLLM, llama.cpp server, Ollama, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.answers.providers.base import ChatRequest, HttpLLM, LLMLimits, StreamEvent, TextDelta
from service.providers.http import ProviderError, bearer
from service.providers.retry import RetryPolicy


class OpenAICompatibleProvider(HttpLLM):
    """`data: {"choices": [{"delta": {"content": ...}}]}` chunks, ended by `data: [DONE]`."""

    name = "openai-compatible"

    def __init__(
        self, base_url: str, model: str, api_key: str, limits: LLMLimits, retry: RetryPolicy
    ) -> None:
        url = base_url.rstrip("/") + "/chat/completions"
        super().__init__(url=url, headers=bearer(api_key), limits=limits, retry=retry)
        self.model = model

    def body(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": "system", "content": request.system}, *request.messages],
            **self.sampling(),
        }

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        if "error" in payload:
            raise ProviderError(str(payload["error"])[:200])
        for choice in payload.get("choices") or []:
            text = (choice.get("delta") or {}).get("content")
            if text:
                yield TextDelta(text)
