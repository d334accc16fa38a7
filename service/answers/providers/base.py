"""The LLM provider contract, and the streaming base class every HTTP LLM provider builds on.

`HttpLLM` (on the shared `HttpProvider`: pooled client, timeout, retries before the first byte)
runs the exchange: POST the request, read the server-sent events, stop at the end marker. A
provider supplies only its wire format: the endpoint and headers (to `__init__`), `body()` for
a `ChatRequest` and `decode()` from one event's JSON payload to `StreamEvent`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from service.providers.http import HttpProvider, ProviderError
from service.providers.retry import RetryPolicy


class LLMProvider(Protocol):
    name: str

    def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class LLMLimits:
    """`timeout` bounds each connect/read/write; the engine bounds the whole answer.

    Keyword-only: three plain numbers are easy to pass in the wrong order."""

    timeout: float
    max_tokens: int
    temperature: float


@dataclass(frozen=True)
class ChatRequest:
    """One model call: the system prompt and the conversation ({"role", "content"} messages)."""

    system: str
    messages: Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    """The provider's own end-of-answer marker; anything after it is ignored."""


StreamEvent = TextDelta | StreamEnd


@dataclass(frozen=True)
class ServerSentEvent:
    event: str | None
    data: str


# OpenAI's end-of-stream sentinel, which Workers AI and other compatible servers copy.
DONE = "[DONE]"
DRAIN_SECONDS = 0.5


class HttpLLM(HttpProvider):
    name: str  # the provider's setting value; labels metrics, logs and the `done` event

    def __init__(
        self, *, url: str, headers: Mapping[str, str], limits: LLMLimits, retry: RetryPolicy
    ) -> None:
        super().__init__(
            url=url, headers=headers, timeout=limits.timeout, retry=retry, label=self.name
        )
        self.limits = limits

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON request body for `request`, in this provider's format."""
        raise NotImplementedError

    def decode(self, event: str | None, payload: Any) -> Iterator[StreamEvent]:
        """What one server-sent event carries; raises ProviderError on an error event."""
        raise NotImplementedError

    def sampling(self) -> dict[str, Any]:
        """The body fields every provider spells the same way."""
        return {
            "stream": True,
            "max_tokens": self.limits.max_tokens,
            "temperature": self.limits.temperature,
        }

    async def events(self, request: ChatRequest) -> AsyncGenerator[StreamEvent, None]:
        async with (
            self.open_stream(self.body(request)) as response,
            contextlib.aclosing(sse_events(response)) as received,
        ):
            async for sse in received:
                if sse.data.strip() == DONE:
                    await _drain(received)
                    return
                for event in self.decode(sse.event, parse_json(sse.data)):
                    if isinstance(event, StreamEnd):
                        await _drain(received)
                        return
                    yield event

    async def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """The answer's text deltas (the engine's contract)."""
        async with contextlib.aclosing(self.events(ChatRequest(system, messages))) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    yield event.text


async def sse_events(response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
    """Events of a text/event-stream body; comments and blank keep-alives skipped."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield ServerSentEvent(event, "\n".join(data))
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
        yield ServerSentEvent(event, "\n".join(data))


async def _drain(rest: AsyncIterator[ServerSentEvent]) -> None:
    """Reads past the end marker (normally only the chunked-encoding trailer is left) so the
    connection goes back to the pool; a server that lingers loses its connection instead."""
    with contextlib.suppress(TimeoutError, httpx.HTTPError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in rest:
                pass


def parse_json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ProviderError(f"malformed stream payload: {data[:80]!r}") from exc
