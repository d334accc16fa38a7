"""Anthropic Messages API streaming."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from service.answers.providers.base import (
    AssistantTurn,
    ChatRequest,
    HttpLLM,
    LLMLimits,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallArgs,
    ToolCallStart,
    ToolResults,
    Turn,
    call_input,
)
from service.providers.http import ProviderError
from service.providers.retry import RetryPolicy

API_VERSION = "2023-06-01"


def _message(turn: Turn) -> dict[str, Any]:
    if isinstance(turn, AssistantTurn):
        content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
        content += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": call_input(c)}
            for c in turn.calls
        ]
        return {"role": "assistant", "content": content}
    if isinstance(turn, ToolResults):
        return {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": o.call.id,
                    "content": o.content,
                    "is_error": o.is_error,
                }
                for o in turn.outputs
            ],
        }
    return dict(turn)


class AnthropicProvider(HttpLLM):
    """Named events: message_start, content_block_start, content_block_delta (text_delta, or
    input_json_delta for a tool_use block), content_block_stop, message_delta, message_stop."""

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
        body = {
            "model": self.model,
            "system": request.system,
            "messages": [_message(m) for m in request.messages],
            **self.sampling(),
        }
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            # Dropping `tools` instead would leave tool_use blocks in the history without
            # their definitions, which the API answers with empty content.
            body["tool_choice"] = {"type": request.tool_choice}
        return body

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        kind = payload.get("type", event)
        if kind == "error":
            raise ProviderError(str(payload.get("error"))[:200])
        index = payload.get("index", 0)
        if kind == "content_block_start":
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                yield ToolCallStart(index, block.get("id"), block.get("name"))
        elif kind == "content_block_delta":
            delta = payload.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                yield TextDelta(str(delta["text"]))
            elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                yield ToolCallArgs(index, str(delta["partial_json"]))
        elif kind == "message_stop":
            yield StreamEnd()
