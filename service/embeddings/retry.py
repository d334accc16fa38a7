"""Bounded retries with exponential backoff for HTTP embedding providers (tenacity)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from service.embeddings.base import EmbeddingError

T = TypeVar("T")

MAX_RETRY_AFTER_SECONDS = 60.0


class RetryableStatusError(Exception):
    """A 429 or 5xx answer: worth another attempt, after Retry-After if the server gave one."""

    def __init__(self, status: int, retry_after: float | None, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def raise_for_retryable(response: httpx.Response) -> None:
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableStatusError(
            response.status_code,
            parse_retry_after(response.headers.get("Retry-After")),
            response.text,
        )


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableStatusError | httpx.TransportError)


def _wait(backoff_seconds: float) -> Callable[[RetryCallState], float]:
    exponential = wait_exponential(multiplier=backoff_seconds, max=30)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatusError) and exc.retry_after is not None:
            return min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
        return float(exponential(state))

    return wait


async def with_retries(
    call: Callable[[], Awaitable[T]], attempts: int, backoff_seconds: float, provider: str
) -> T:
    """Runs `call` until it succeeds or `attempts` are used; then raises EmbeddingError."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(attempts),
            wait=_wait(backoff_seconds),
            reraise=True,
        ):
            with attempt:
                return await call()
    except RetryableStatusError as exc:
        raise EmbeddingError(
            "embedding_provider_unavailable",
            f"{provider} kept failing after {attempts} attempts (last: HTTP {exc.status}).",
        ) from exc
    except httpx.TransportError as exc:
        raise EmbeddingError(
            "embedding_provider_unreachable",
            f"{provider} could not be reached after {attempts} attempts: {exc!r}",
        ) from exc
    raise AssertionError("unreachable")  # pragma: no cover
