"""Anthropic Messages API streaming."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.answers.providers.base import (
    ChatRequest,
    HttpLLM,
    LLMLimits,
    StreamEnd,
    StreamEvent,
    TextDelta,
)
from service.providers.http import ProviderError
from service.providers.retry import RetryPolicy

API_VERSION = "2023-06-01"


class AnthropicProvider(HttpLLM):
    """Named events: message_start, content_block_delta (text_delta), ..., message_stop."""

    name = "anthropic"

    def __init__(
        self, base_url: str, model: str, api_key: str, limits: LLMLimits, retry: RetryPolicy
    ) -> None:
        super().__init__(
            url=base_url.rstrip("/") + "/v1/messages",
            headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
            limits=limits,
            retry=retry,
        )
        self.model = model

    def body(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": request.system,
            "messages": list(request.messages),
            **self.sampling(),
        }

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        kind = payload.get("type", event)
        if kind == "error":
            raise ProviderError(str(payload.get("error"))[:200])
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                yield TextDelta(str(delta["text"]))
        elif kind == "message_stop":
            yield StreamEnd()
