"""A local HTTP server speaking the providers' real streaming wire formats, tool calls included.

Each format was checked against the provider's published reference (what was checked, where):
- OpenAI chat completions, `stream: true`: every chunk is `{"id", "object":
  "chat.completion.chunk", "created", "model", "choices": [{"index", "delta", "finish_reason"}]}`;
  the first delta carries `role`, text comes as `delta.content`, a tool call as
  `delta.tool_calls[{index, id, type: "function", function: {name, arguments: ""}}]` and then
  `{index, function: {arguments: <fragment>}}` chunks; the last chunk has an empty delta and
  `finish_reason` "stop" or "tool_calls"; then `data: [DONE]`.
  https://github.com/openai/openai-python/blob/main/src/openai/types/chat/chat_completion_chunk.py
  (ChoiceDeltaToolCall: index required, id/function optional; finish_reason values) and
  https://platform.openai.com/docs/api-reference/chat-streaming
- Anthropic Messages, `stream: true`: named events message_start (a whole `message` with
  `type`, `model`, `usage`), content_block_start (`text`, or `tool_use` with id, name and
  `input: {}`), ping, content_block_delta (`text_delta`, or `input_json_delta` whose
  `partial_json` fragments join into the input; the first may be empty), content_block_stop,
  message_delta (`delta.stop_reason` "end_turn" or "tool_use", and `usage`, which the SDK's
  RawMessageDeltaEvent requires), message_stop.
  https://docs.anthropic.com/en/docs/build-with-claude/streaming ,
  https://github.com/anthropics/anthropic-sdk-python/blob/main/src/anthropic/types/raw_message_delta_event.py
  and the recorded stream in @ai-sdk/anthropic's src/__fixtures__/anthropic-json-tool.1.chunks.txt
- Workers AI REST `ai/run/{model}`, `stream: true`: `data: {"response": "..."}` chunks (with the
  `p` padding field), a last chunk with `usage`, then `data: [DONE]`. Function calling takes
  `tools: [{name, description, parameters}]` and streams `tool_calls` at the top level: `{id,
  type, index, function: {name}}`, then `{index, function: {arguments: <fragment>}}`, then an
  all-null finalisation entry.
  https://developers.cloudflare.com/workers-ai/configuration/function-calling/ (the default
  model's page, https://developers.cloudflare.com/ai/models/@cf/meta/llama-4-scout-17b-16e-instruct/,
  lists "Function calling: Yes") and Cloudflare's
  own stream parser, https://github.com/cloudflare/ai/blob/main/packages/workers-ai-provider/src/streaming.ts
  (emitToolCallDeltas, isNullFinalizationChunk)
- Workers AI's bge-reranker (a model name containing "reranker"): `{"result": {"response":
  [{"id", "score"}]}}`, context ids best first.

What the fakes had wrong before that check: OpenAI chunks lacked `created`/`model`, the
`role` delta and the final `finish_reason` chunk; Anthropic's message_start lacked `type`,
`model` and `usage`, no `ping` was sent, and message_delta lacked `usage`.

`script` queues replies: each request takes the next one (a list of `Text(...)` and
`Call(name, arguments)`), and answers ANSWER when the queue is empty. Every tool call's
arguments are split across three chunks, mid-token. `mode` picks failure behaviour: ok,
http_error (503 every time), busy_then_ok (one 503 with Retry-After, then ok), rejected (401),
hang, malformed_midway, cut_midway (the connection drops after two chunks).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

ANSWER = ["Practise slowly ", "with a quiet hand [", "1]. Lift each finger ", "[7] in turn [2]."]
CREATED = 1_767_225_600


# Settings that point each provider's real client at this server (its base URL).
PROVIDERS: dict[str, Callable[[str], dict[str, object]]] = {
    "openai-compatible": lambda url: {
        "llm_provider": "openai-compatible",
        "llm_openai_base_url": url + "/v1",
        "llm_openai_model": "local-model",
    },
    "workers-ai": lambda url: {
        "llm_provider": "workers-ai",
        "workers_ai_base_url": url,
        "cloudflare_account_id": "acct",
        "workers_ai_api_token": "tok",
    },
    "anthropic": lambda url: {
        "llm_provider": "anthropic",
        "anthropic_base_url": url,
        "anthropic_api_key": "key",
    },
}


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # JSON text, sent in fragments


Reply = list[Text | Call]


def fragments(arguments: str) -> list[str]:
    """Three pieces cut mid-token, as real streams cut them."""
    a, b = len(arguments) // 3, 2 * len(arguments) // 3
    return [arguments[:a], arguments[a:b], arguments[b:]]


def _texts(reply: Reply) -> list[str]:
    return [p.text for p in reply if isinstance(p, Text)]


def _calls(reply: Reply) -> list[Call]:
    return [p for p in reply if isinstance(p, Call)]


class LLMServer:
    def __init__(self) -> None:
        self.mode = "ok"
        self.retry_after = "0"  # busy_then_ok's Retry-After header
        self.requests: list[dict[str, Any]] = []
        self.script: list[Reply] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._openai)
        self.app.post("/accounts/{account}/ai/run/{model:path}")(self._workers_ai)
        self.app.post("/v1/messages")(self._anthropic)

    async def _gate(self, request: Request) -> Response | None:
        self.requests.append(
            {
                "path": request.url.path,
                "peer": request.client.port if request.client else None,
                "headers": dict(request.headers),
                "body": await request.json(),
            }
        )
        if self.mode == "http_error":
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        if self.mode == "busy_then_ok":
            self.mode = "ok"
            return JSONResponse(
                {"error": {"message": "overloaded"}},
                status_code=503,
                headers={"Retry-After": self.retry_after},
            )
        if self.mode == "rejected":
            return JSONResponse({"error": {"message": "invalid api key"}}, status_code=401)
        return None

    async def _chunks(self, frames: list[str], tail: list[str]) -> AsyncIterator[bytes]:
        if self.mode == "hang":
            await asyncio.sleep(30)
        for i, frame in enumerate(frames):
            if self.mode == "malformed_midway" and i == 2:
                yield b"data: {not json\n\n"
                return
            if self.mode == "cut_midway" and i == 2:
                raise ConnectionAbortedError("the upstream dropped the stream")
            yield frame.encode()
            await asyncio.sleep(0.01)
        for frame in tail:
            yield frame.encode()

    def _reply(self) -> Reply:
        return self.script.pop(0) if self.script else [Text(t) for t in ANSWER]

    async def _openai(self, request: Request) -> Response:
        if (err := await self._gate(request)) is not None:
            return err
        reply = self._reply()

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            body = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": "local-model",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            return "data: " + json.dumps(body) + "\n\n"

        frames = [chunk({"role": "assistant", "content": ""})]
        frames += [chunk({"content": t}) for t in _texts(reply)]
        for i, call in enumerate(_calls(reply)):
            start = {"index": i, "id": f"call_{i}", "type": "function"}
            frames.append(
                chunk({"tool_calls": [{**start, "function": {"name": call.name, "arguments": ""}}]})
            )
            frames += [
                chunk({"tool_calls": [{"index": i, "function": {"arguments": f}}]})
                for f in fragments(call.arguments)
            ]
        finish = "tool_calls" if _calls(reply) else "stop"
        tail = [chunk({}, finish), "data: [DONE]\n\n"]
        return StreamingResponse(self._chunks(frames, tail), media_type="text/event-stream")

    async def _workers_ai(self, request: Request, model: str) -> Response:
        if (err := await self._gate(request)) is not None:
            return err
        if "reranker" in model:
            return self._rerank(self.requests[-1]["body"])
        reply = self._reply()

        def data(body: dict[str, Any]) -> str:
            return "data: " + json.dumps(body) + "\n\n"

        frames = [data({"response": t, "p": "abc"}) for t in _texts(reply)]
        for i, call in enumerate(_calls(reply)):
            start = {"id": f"chatcmpl-tool-{i}", "type": "function", "index": i}
            frames.append(
                data({"response": "", "tool_calls": [{**start, "function": {"name": call.name}}]})
            )
            frames += [
                data({"response": "", "tool_calls": [{"index": i, "function": {"arguments": f}}]})
                for f in fragments(call.arguments)
            ]
        if _calls(reply):
            null = {"id": None, "type": None, "function": {"name": None}}
            frames.append(data({"response": "", "tool_calls": [null]}))
        tail = [
            data({"response": "", "usage": {"prompt_tokens": 10, "completion_tokens": 5}}),
            "data: [DONE]\n\n",
        ]
        return StreamingResponse(self._chunks(frames, tail), media_type="text/event-stream")

    def _rerank(self, body: dict[str, Any]) -> Response:
        """bge-reranker's answer: context ids by score, here the share of query words they hold."""
        words = set(body["query"].lower().split())
        scores = [
            len(words & set(c["text"].lower().split())) / len(words) for c in body["contexts"]
        ]
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: body.get("top_k")]
        return JSONResponse(
            {
                "result": {"response": [{"id": i, "score": scores[i]} for i in ranked]},
                "success": True,
                "errors": [],
                "messages": [],
            }
        )

    async def _anthropic(self, request: Request) -> Response:
        if (err := await self._gate(request)) is not None:
            return err
        reply = self._reply()

        def ev(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        message: dict[str, Any] = {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-test",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 1},
        }
        frames = [ev("message_start", {"message": message})]
        index = 0
        if _texts(reply):
            frames.append(
                ev(
                    "content_block_start",
                    {"index": 0, "content_block": {"type": "text", "text": ""}},
                )
            )
            frames.append(ev("ping", {}))
            frames += [
                ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": t}})
                for t in _texts(reply)
            ]
            frames.append(ev("content_block_stop", {"index": 0}))
            index = 1
        for call in _calls(reply):
            block = {"type": "tool_use", "id": f"toolu_{index}", "name": call.name, "input": {}}
            frames.append(ev("content_block_start", {"index": index, "content_block": block}))
            frames += [
                ev(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": f}},
                )
                for f in ["", *fragments(call.arguments)]
            ]
            frames.append(ev("content_block_stop", {"index": index}))
            index += 1
        stop = "tool_use" if _calls(reply) else "end_turn"
        tail = [
            ev(
                "message_delta",
                {
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": 15},
                },
            ),
            ev("message_stop", {}),
        ]
        return StreamingResponse(self._chunks(frames, tail), media_type="text/event-stream")
