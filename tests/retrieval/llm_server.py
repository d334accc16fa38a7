"""A local HTTP server speaking the providers' real streaming wire formats.

OpenAI chat completions: `data: {"choices":[{"delta":{"content":...}}]}` ... `data: [DONE]`.
Workers AI: `data: {"response":"..."}` ... `data: [DONE]`.
Anthropic Messages: named events message_start / content_block_delta (text_delta) / message_stop.
Workers AI's bge-reranker (a model name containing "reranker"): `{"result": {"response": [{"id",
"score"}]}}`, context ids best first.
`mode` picks the behaviour: ok, http_error (503 every time), busy_then_ok (one 503 with
Retry-After, then ok), rejected (401), hang, malformed_midway, cut_midway (the connection drops
after two chunks).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

ANSWER = ["Practise slowly ", "with a quiet hand [", "1]. Lift each finger ", "[7] in turn [2]."]


class LLMServer:
    def __init__(self) -> None:
        self.mode = "ok"
        self.retry_after = "0"  # busy_then_ok's Retry-After header
        self.requests: list[dict[str, Any]] = []
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

    async def _openai(self, request: Request) -> Response:
        if (err := await self._gate(request)) is not None:
            return err
        frames = [
            "data: "
            + json.dumps(
                {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}],
                }
            )
            + "\n\n"
            for t in ANSWER
        ]
        return StreamingResponse(
            self._chunks(frames, ["data: [DONE]\n\n"]), media_type="text/event-stream"
        )

    async def _workers_ai(self, request: Request, model: str) -> Response:
        if (err := await self._gate(request)) is not None:
            return err
        if "reranker" in model:
            return self._rerank(self.requests[-1]["body"])
        frames = ["data: " + json.dumps({"response": t, "p": "abc"}) + "\n\n" for t in ANSWER]
        tail = [
            "data: " + json.dumps({"response": "", "usage": {"prompt_tokens": 10}}) + "\n\n",
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

        def ev(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n"

        head = ev(
            "message_start",
            {"type": "message_start", "message": {"id": "m1", "role": "assistant", "content": []}},
        )
        frames = [
            head,
            ev(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
        ]
        frames += [
            ev(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": t},
                },
            )
            for t in ANSWER
        ]
        tail = [
            ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}),
            ev("message_stop", {"type": "message_stop"}),
        ]
        return StreamingResponse(self._chunks(frames, tail), media_type="text/event-stream")
