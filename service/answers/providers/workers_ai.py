"""Cloudflare Workers AI text generation over its REST API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.answers.providers.base import ChatRequest, HttpLLM, LLMLimits, StreamEvent, TextDelta
from service.providers.cloudflare import WorkersAIAccount
from service.providers.http import ProviderError
from service.providers.retry import RetryPolicy


class WorkersAIProvider(HttpLLM):
    """`stream: true` answers SSE `data: {"response": ...}` chunks, ended by `data: [DONE]`."""

    name = "workers-ai"

    def __init__(
        self, account: WorkersAIAccount, model: str, limits: LLMLimits, retry: RetryPolicy
    ) -> None:
        super().__init__(
            url=account.run_url(model), headers=account.headers, limits=limits, retry=retry
        )

    def body(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "messages": [{"role": "system", "content": request.system}, *request.messages],
            **self.sampling(),
        }

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        if payload.get("errors"):
            raise ProviderError(str(payload["errors"])[:200])
        text = payload.get("response")
        if text:
            yield TextDelta(str(text))
