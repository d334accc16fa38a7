"""Cloudflare Workers AI over its REST API (`stream: true` returns SSE `data: {"response": ...}`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from service.answers.providers.base import ProviderError, parse_json, raise_for_status, sse_data


class WorkersAIProvider:
    name = "workers-ai"

    def __init__(
        self,
        base_url: str,
        account_id: str,
        token: str,
        model: str,
        *,
        timeout: float,
        max_tokens: int,
        temperature: float,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/accounts/{account_id}/ai/run/{model}"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._temperature = temperature

    async def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        body = {
            "messages": [{"role": "system", "content": system}, *messages],
            "stream": True,
            "max_tokens": self._max_tokens,
            "temperature": self._temperature,
        }
        async with (
            httpx.AsyncClient(timeout=self._timeout) as client,
            client.stream("POST", self._url, json=body, headers=self._headers) as r,
        ):
            await raise_for_status(r)
            async for _, data in sse_data(r):
                if data.strip() == "[DONE]":
                    return
                payload = parse_json(data)
                if payload.get("errors"):
                    raise ProviderError(str(payload["errors"])[:200])
                text = payload.get("response")
                if text:
                    yield str(text)
