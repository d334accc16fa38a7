"""The LLM providers' shared HTTP base over real HTTP: pooled connections and the retry policy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from service.answers.providers.base import LLMLimits
from service.answers.providers.openai_compatible import OpenAICompatibleProvider
from service.providers.http import ProviderRejected, ProviderUnavailable
from service.providers.retry import RetryPolicy
from tests.conftest import LiveServer
from tests.retrieval.llm_server import ANSWER, LLMServer

LIMITS = LLMLimits(timeout=5.0, max_tokens=100, temperature=0.0)


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[LLMServer, str]]:
    server = LLMServer()
    with LiveServer(server.app) as live:
        yield server, live.url


@pytest.fixture
def server(llm: tuple[LLMServer, str]) -> LLMServer:
    llm[0].mode, llm[0].retry_after = "ok", "0"
    llm[0].requests.clear()
    return llm[0]


def _provider(llm: tuple[LLMServer, str], retry: RetryPolicy) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(llm[1] + "/v1", "local-model", "key", LIMITS, retry)


async def _answer(provider: OpenAICompatibleProvider) -> str:
    return "".join([t async for t in provider.stream("system", [{"role": "user", "content": "q"}])])


def test_connections_are_pooled_and_released_by_aclose(
    llm: tuple[LLMServer, str], server: LLMServer
) -> None:
    provider = _provider(llm, RetryPolicy())

    async def run() -> None:
        assert await _answer(provider) == "".join(ANSWER)
        assert await _answer(provider) == "".join(ANSWER)
        first = provider.client()
        await provider.aclose()
        assert first.is_closed
        assert await _answer(provider) == "".join(ANSWER)  # a fresh pool after close
        await provider.aclose()

    asyncio.run(run())
    peers = [r["peer"] for r in server.requests]
    assert peers[0] == peers[1] != peers[2]  # one kept-alive connection until aclose


def test_retry_after_is_honoured(llm: tuple[LLMServer, str], server: LLMServer) -> None:
    server.mode, server.retry_after = "busy_then_ok", "0.4"
    started = time.monotonic()
    assert asyncio.run(_answer(_provider(llm, RetryPolicy(backoff_seconds=0)))) == "".join(ANSWER)
    assert time.monotonic() - started >= 0.4
    assert len(server.requests) == 2


def test_retry_after_is_capped(llm: tuple[LLMServer, str], server: LLMServer) -> None:
    server.mode, server.retry_after = "busy_then_ok", "3600"
    started = time.monotonic()
    policy = RetryPolicy(max_retry_after_seconds=0.1)
    assert asyncio.run(_answer(_provider(llm, policy))) == "".join(ANSWER)
    assert time.monotonic() - started < 5
    assert len(server.requests) == 2


def test_no_retry_that_cannot_finish_within_the_budget(
    llm: tuple[LLMServer, str], server: LLMServer
) -> None:
    """A wait past the budget (here the server's Retry-After) gives up at once, for the fallback."""
    server.mode, server.retry_after = "busy_then_ok", "30"
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="after 1 attempts"):
        asyncio.run(_answer(_provider(llm, RetryPolicy(budget_seconds=2.0))))
    assert time.monotonic() - started < 2.0
    assert len(server.requests) == 1


def test_attempts_are_bounded(llm: tuple[LLMServer, str], server: LLMServer) -> None:
    server.mode = "http_error"
    with pytest.raises(ProviderUnavailable, match=r"after 3 attempts \(last: HTTP 503\)"):
        asyncio.run(_answer(_provider(llm, RetryPolicy(attempts=3, backoff_seconds=0.01))))
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(llm: tuple[LLMServer, str], server: LLMServer) -> None:
    server.mode = "rejected"
    with pytest.raises(ProviderRejected, match="HTTP 401"):
        asyncio.run(_answer(_provider(llm, RetryPolicy(backoff_seconds=0.01))))
    assert len(server.requests) == 1


def test_one_provider_serves_successive_event_loops(
    llm: tuple[LLMServer, str], server: LLMServer
) -> None:
    """A kept-alive connection belongs to its loop; a provider used from a new loop opens anew."""
    provider = _provider(llm, RetryPolicy())
    for _ in range(2):
        assert asyncio.run(_answer(provider)) == "".join(ANSWER)
    assert len({r["peer"] for r in server.requests}) == 2
