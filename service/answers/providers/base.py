"""The LLM provider contract, and the streaming base class every HTTP LLM provider builds on.

`HttpLLM` (on the shared `HttpProvider`: pooled client, timeout, retries before the first byte)
runs the exchange: POST the request, read the server-sent events, stop at the end marker. A
provider supplies only its wire format: the endpoint and headers (to `__init__`), `body()` for
a `ChatRequest` and `decode()` from one event's JSON payload to `StreamEvent`s.

Tool calling rides on the same exchange: a request may carry `tools`, the conversation may hold
the model's earlier tool calls (`AssistantTurn`) and their results (`ToolResults`), and
`decode()` reports a tool call as `ToolCallStart` plus `ToolCallArgs` fragments, which `turn()`
joins into whole `ToolCall`s whatever way the provider split them across chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

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
class ToolSpec:
    """A tool the model may call: its name, what it does, and its arguments' JSON schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for. `arguments` is the JSON text as the model wrote it: the
    tool validates it, so a malformed call becomes an error result, not an exception."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class AssistantTurn:
    """The model's earlier turn that asked for tools (sent back so it sees its own calls)."""

    text: str
    calls: Sequence[ToolCall]


@dataclass(frozen=True)
class ToolOutput:
    call: ToolCall
    content: str  # JSON text
    is_error: bool = False


@dataclass(frozen=True)
class ToolResults:
    """What the tools answered, one output per call of the preceding AssistantTurn."""

    outputs: Sequence[ToolOutput]


Turn = Mapping[str, str] | AssistantTurn | ToolResults


@dataclass(frozen=True)
class ChatRequest:
    """One model call: the system prompt, the conversation ({"role", "content"} messages, plus
    tool turns in a tool loop) and the tools the model may call (none: plain answering)."""

    system: str
    messages: Sequence[Turn]
    tools: Sequence[ToolSpec] = ()
    # "none": the tools stay declared (the conversation refers to them) but the model must
    # answer in words; the loop's last turn.
    tool_choice: Literal["auto", "none"] = "auto"


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStart:
    """A tool call begins: `index` tells apart calls streamed in parallel."""

    index: int
    id: str | None
    name: str | None


@dataclass(frozen=True)
class ToolCallArgs:
    """The next fragment of a tool call's JSON arguments."""

    index: int
    fragment: str


@dataclass(frozen=True)
class StreamEnd:
    """The provider's own end-of-answer marker; anything after it is ignored."""


StreamEvent = TextDelta | ToolCallStart | ToolCallArgs | StreamEnd


class ToolCallingLLM(Protocol):
    """A provider that can take tools: one model turn, as text deltas then whole tool calls."""

    name: str

    def turn(self, request: ChatRequest) -> AsyncIterator[TextDelta | ToolCall]: ...


@dataclass
class _PendingCall:
    id: str | None = None
    name: str | None = None
    fragments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServerSentEvent:
    event: str | None
    data: str


T = TypeVar("T")

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

    async def turn(self, request: ChatRequest) -> AsyncIterator[TextDelta | ToolCall]:
        """One model turn: text deltas as they stream, then the tool calls it asked for, each
        whole (its argument fragments joined in order), in the order the model numbered them."""
        pending: dict[int, _PendingCall] = {}
        async with contextlib.aclosing(self.events(request)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    if event.text:
                        yield event
                elif isinstance(event, ToolCallStart):
                    call = pending.setdefault(event.index, _PendingCall())
                    call.id = call.id or event.id
                    call.name = call.name or event.name
                elif isinstance(event, ToolCallArgs):
                    pending.setdefault(event.index, _PendingCall()).fragments.append(event.fragment)
        for index in sorted(pending):
            call = pending[index]
            if not call.name:
                raise ProviderError(f"tool call {index} arrived without a name")
            yield ToolCall(call.id or f"call_{index}", call.name, "".join(call.fragments))

    async def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        """The answer's text deltas (the engine's contract)."""
        async with contextlib.aclosing(self.events(ChatRequest(system, messages))) as events:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    yield event.text


async def bounded(
    items: AsyncIterator[T], *, deadline: float, first_item_timeout: float
) -> AsyncGenerator[T, None]:
    """`items` until `deadline` (event-loop time), the first within `first_item_timeout`;
    raises TimeoutError past either, and closes the source whatever happens."""
    loop = asyncio.get_running_loop()
    source = items.__aiter__()
    first = True
    try:
        while True:
            remaining = deadline - loop.time()
            if first:
                remaining = min(remaining, first_item_timeout)
            if remaining <= 0:
                raise TimeoutError
            try:
                item = await asyncio.wait_for(source.__anext__(), remaining)
            except StopAsyncIteration:
                return
            first = False
            yield item
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):  # closing a failed stream is best effort
                await aclose()


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


def call_input(call: ToolCall) -> dict[str, Any]:
    """A call's arguments as an object, for providers that send them back parsed; arguments
    that were never valid JSON were already answered as a tool error, so `{}` stands in."""
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def parse_json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ProviderError(f"malformed stream payload: {data[:80]!r}") from exc
