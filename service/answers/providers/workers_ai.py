"""Cloudflare Workers AI text generation over its REST API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.answers.providers.base import ChatRequest, HttpLLM, LLMLimits, StreamEvent, TextDelta
from service.answers.providers.openai_compatible import openai_messages, tool_call_deltas
from service.providers.cloudflare import WorkersAIAccount
from service.providers.http import ProviderError
from service.providers.retry import RetryPolicy


class WorkersAIProvider(HttpLLM):
    """`stream: true` answers SSE `data: {"response": ...}` chunks, ended by `data: [DONE]`.

    Function calling (models marked "Function calling: Yes" in the catalogue, the default
    @cf/meta/llama-4-scout-17b-16e-instruct among them) takes `tools` as
    `{name, description, parameters}` and streams calls in a top-level `tool_calls` list,
    OpenAI-style fragments by `index`, closed by an all-null entry that carries nothing. Some
    models answer in the OpenAI chunk shape (`choices[].delta`) instead; both are read."""

    name = "workers-ai"

    def __init__(
        self, account: WorkersAIAccount, model: str, limits: LLMLimits, retry: RetryPolicy
    ) -> None:
        super().__init__(
            url=account.run_url(model), headers=account.headers, limits=limits, retry=retry
        )

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body = {"messages": openai_messages(request), **self.sampling()}
        # Its function calling documents no `tool_choice`: a turn that must not call tools is
        # sent without them (the `role: tool` history needs no definitions here).
        if request.tools and request.tool_choice == "auto":
            body["tools"] = [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in request.tools
            ]
        return body

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        if payload.get("errors"):
            raise ProviderError(str(payload["errors"])[:200])
        text = payload.get("response")
        if text:
            yield TextDelta(str(text))
        yield from tool_call_deltas(payload.get("tool_calls") or [])
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield TextDelta(str(delta["content"]))
            yield from tool_call_deltas(delta.get("tool_calls") or [])
