"""OpenAI-compatible chat completions (hosted OpenAI, vLLM, llama.cpp server, Ollama, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from service.answers.providers.base import ProviderError, parse_json, raise_for_status, sse_data


class OpenAICompatibleProvider:
    name = "openai-compatible"

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
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._max_tokens = max_tokens
        self._temperature = temperature

    async def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        body = {
            "model": self._model,
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
                if "error" in payload:
                    raise ProviderError(str(payload["error"])[:200])
                for choice in payload.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text
