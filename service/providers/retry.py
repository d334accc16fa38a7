"""The retry policy of every HTTP provider (tenacity): what is retried, how long to wait, when to stop.

Retried: transport errors (connect, read, ...) and 429/5xx answers. Other 4xx answers are the
caller's mistake and fail at once. A server's Retry-After is honoured up to a cap; without one the
wait grows exponentially. A `budget` bounds the whole exchange: an attempt whose wait would end
past it is not made, so an interactive caller gives up in time to fall back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
)
from tenacity.stop import stop_base

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` counts the first try; `budget_seconds` (None = unbounded) caps the total time."""

    attempts: int = 5
    backoff_seconds: float = 0.5
    budget_seconds: float | None = None
    max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS


NO_RETRY = RetryPolicy(attempts=1)


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


def is_retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def retryable_status(response: httpx.Response, body: str) -> RetryableStatusError:
    return RetryableStatusError(
        response.status_code, parse_retry_after(response.headers.get("Retry-After")), body
    )


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableStatusError | httpx.TransportError)


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    exponential = wait_exponential(multiplier=policy.backoff_seconds, max=MAX_BACKOFF_SECONDS)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatusError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_retry_after_seconds)
        return float(exponential(state))

    return wait


def _stop(policy: RetryPolicy) -> stop_base:
    stop: stop_base = stop_after_attempt(policy.attempts)
    if policy.budget_seconds is not None:
        stop = stop | stop_before_delay(policy.budget_seconds)
    return stop


def _log_retry(label: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info(
            "retrying provider call",
            extra={
                "provider": label,
                "attempt": state.attempt_number,
                "wait_seconds": round(state.upcoming_sleep, 3),
                "error": repr(exc)[:200],
            },
        )

    return before_sleep


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, label: str) -> T:
    """Runs `call` until it succeeds or the policy stops; then re-raises the last error
    (RetryableStatusError or httpx.TransportError) for the caller to name."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=_stop(policy),
        wait=_wait(policy),
        before_sleep=_log_retry(label),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover
