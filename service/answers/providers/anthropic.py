"""Anthropic Messages API streaming (content_block_delta / text_delta events)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from service.answers.providers.base import ProviderError, parse_json, raise_for_status, sse_data

API_VERSION = "2023-06-01"


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str,
        *,
        timeout: float,
        max_tokens: int,
        temperature: float,
    ) -> None:
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._model = model
        self._headers = {"x-api-key": api_key, "anthropic-version": API_VERSION}
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._temperature = temperature

    async def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        body = {
            "model": self._model,
            "system": system,
            "messages": messages,
            "stream": True,
            "max_tokens": self._max_tokens,
            "temperature": self._temperature,
        }
        async with (
            httpx.AsyncClient(timeout=self._timeout) as client,
            client.stream("POST", self._url, json=body, headers=self._headers) as r,
        ):
            await raise_for_status(r)
            async for event, data in sse_data(r):
                payload = parse_json(data)
                kind = payload.get("type", event)
                if kind == "error":
                    raise ProviderError(str(payload.get("error"))[:200])
                if kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield str(delta["text"])
                elif kind == "message_stop":
                    return
