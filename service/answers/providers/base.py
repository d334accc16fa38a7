"""The provider contract and the shared SSE line reader."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx


class ProviderError(Exception):
    """The provider answered with an error (HTTP status, error event or malformed stream)."""


class LLMProvider(Protocol):
    name: str

    def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]: ...


async def sse_data(response: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
    """(event, data) pairs from a text/event-stream body; comments and blank keep-alives skipped."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


def parse_json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ProviderError(f"malformed stream payload: {data[:80]!r}") from exc


async def raise_for_status(response: httpx.Response) -> None:
    if response.status_code >= 400:
        body = (await response.aread())[:300]
        raise ProviderError(f"HTTP {response.status_code}: {body!r}")
