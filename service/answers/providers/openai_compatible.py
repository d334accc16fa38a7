"""OpenAI-compatible chat completions (hosted OpenAI, vLLM, llama.cpp server, Ollama, ...)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from service.answers.providers.base import (
    AssistantTurn,
    ChatRequest,
    HttpLLM,
    LLMLimits,
    StreamEvent,
    TextDelta,
    ToolCallArgs,
    ToolCallStart,
    ToolResults,
    ToolSpec,
)
from service.providers.http import ProviderError, bearer
from service.providers.retry import RetryPolicy


def openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The system prompt then the conversation; tool turns as `tool_calls` and `role: tool`."""
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}]
    for turn in request.messages:
        if isinstance(turn, AssistantTurn):
            out.append(
                {
                    "role": "assistant",
                    "content": turn.text or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments or "{}"},
                        }
                        for c in turn.calls
                    ],
                }
            )
        elif isinstance(turn, ToolResults):
            out += [
                {
                    "role": "tool",
                    "tool_call_id": o.call.id,
                    "name": o.call.name,
                    "content": o.content,
                }
                for o in turn.outputs
            ]
        else:
            out.append(dict(turn))
    return out


def openai_tools(tools: list[ToolSpec] | tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def tool_call_deltas(calls: list[Mapping[str, Any]]) -> Iterator[StreamEvent]:
    """`delta.tool_calls` entries: the first of a call carries `index`, `id` and the function
    name, later ones (same `index`) carry further `function.arguments` text."""
    for position, call in enumerate(calls):
        function = call.get("function") or {}
        index = call.get("index")
        index = index if isinstance(index, int) else position
        name = function.get("name") or call.get("name")
        if call.get("id") or name:
            yield ToolCallStart(index, call.get("id"), name)
        args = function.get("arguments", call.get("arguments"))
        if isinstance(args, Mapping):  # some servers send the arguments already parsed
            args = json.dumps(args)
        if args:
            yield ToolCallArgs(index, str(args))


class OpenAICompatibleProvider(HttpLLM):
    """`data: {"choices": [{"delta": {"content": ...}}]}` chunks, ended by `data: [DONE]`;
    tool calls stream as `delta.tool_calls` fragments and end with `finish_reason: tool_calls`."""

    name = "openai-compatible"

    def __init__(
        self, base_url: str, model: str, api_key: str, limits: LLMLimits, retry: RetryPolicy
    ) -> None:
        url = base_url.rstrip("/") + "/chat/completions"
        super().__init__(url=url, headers=bearer(api_key), limits=limits, retry=retry)
        self.model = model

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body = {"model": self.model, "messages": openai_messages(request), **self.sampling()}
        if request.tools:
            body["tools"] = openai_tools(tuple(request.tools))
            body["tool_choice"] = request.tool_choice
        return body

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        if "error" in payload:
            raise ProviderError(str(payload["error"])[:200])
        for choice in payload.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                yield TextDelta(delta["content"])
            yield from tool_call_deltas(delta.get("tool_calls") or [])
