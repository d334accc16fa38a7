"""The base class of every HTTP model provider: one pooled client, timeouts, retries, error names.

A subclass passes its endpoint, headers, timeout and retry policy to `__init__` and then speaks
its wire format through `post_json` (one JSON answer) or `open_stream` (a streamed body). Both
retry transport errors and 429/5xx answers by the policy; `open_stream` retries only until the
status line is good: once the caller reads the body, a failure is the caller's to handle, since
part of the answer may already have been passed on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx

from service.providers.retry import (
    RetryableStatusError,
    RetryPolicy,
    is_retryable_status,
    retryable_status,
    with_retries,
)

T = TypeVar("T")


class ProviderError(Exception):
    """A provider call failed: an error status, no answer within the retries, or a bad answer."""


class ProviderRejected(ProviderError):
    """A 4xx other than 429: the request itself is wrong, so it is not retried."""

    def __init__(self, label: str, status: int, body: str) -> None:
        super().__init__(f"{label} answered HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


class ProviderUnavailable(ProviderError):
    """Every attempt got a 429 or 5xx."""

    def __init__(self, label: str, attempts: int, status: int) -> None:
        super().__init__(f"{label} kept failing after {attempts} attempts (last: HTTP {status}).")
        self.status = status


class ProviderUnreachable(ProviderError):
    """Every attempt failed in transport (connect, TLS, read timeout, ...)."""

    def __init__(self, label: str, attempts: int, cause: httpx.TransportError) -> None:
        super().__init__(f"{label} could not be reached after {attempts} attempts: {cause!r}")


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`; none for a keyless server (a local vLLM or Ollama)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


class HttpProvider:
    """Owns the HTTP client, its timeout and the retry policy; subclasses add the wire format.

    The client is pooled (keep-alive, one TLS handshake per connection rather than per call) and
    kept per event loop: an httpx client's connections belong to the loop that opened them, and
    a process-wide provider (the embedder) is shared by threads that run their own loops.
    """

    def __init__(
        self,
        *,
        url: str,
        headers: Mapping[str, str],
        timeout: float,
        retry: RetryPolicy,
        label: str,
    ) -> None:
        self.url = url
        self.retry = retry
        self.label = label  # names the provider in logs and errors
        self._headers = dict(headers)
        self._timeout = httpx.Timeout(timeout)
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._lock = threading.Lock()

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None or client.is_closed:
                # Clients of loops that have ended can never be used again; let them go.
                for ended in [other for other in self._clients if other.is_closed()]:
                    del self._clients[ended]
                client = httpx.AsyncClient(timeout=self._timeout, headers=self._headers)
                self._clients[loop] = client
            return client

    async def aclose(self) -> None:
        """Closes this event loop's connections (for the app's shutdown)."""
        with self._lock:
            client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    async def post_json(self, payload: Mapping[str, Any]) -> Any:
        """POST `payload`; the decoded JSON answer of the first attempt that succeeds."""
        client = self.client()

        async def call() -> Any:
            response = await client.post(self.url, json=payload)
            if response.status_code >= 400:
                raise self._failure(response, response.text)
            return response.json()

        return await self._retrying(call)

    @asynccontextmanager
    async def open_stream(self, payload: Mapping[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST `payload` and hand over the response with its body unread (retried until then)."""
        client = self.client()

        async def call() -> httpx.Response:
            request = client.build_request("POST", self.url, json=payload)
            response = await client.send(request, stream=True)
            if response.status_code < 400:
                return response
            try:
                body = (await response.aread())[:300].decode(errors="replace")
            finally:
                await response.aclose()
            raise self._failure(response, body)

        response = await self._retrying(call)
        try:
            yield response
        finally:
            await response.aclose()

    def _failure(self, response: httpx.Response, body: str) -> Exception:
        if is_retryable_status(response.status_code):
            return retryable_status(response, body)
        return ProviderRejected(self.label, response.status_code, body)

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        attempts = 0

        async def counted() -> T:
            nonlocal attempts
            attempts += 1
            return await call()

        try:
            return await with_retries(counted, self.retry, self.label)
        except RetryableStatusError as exc:
            raise ProviderUnavailable(self.label, attempts, exc.status) from exc
        except httpx.TransportError as exc:
            raise ProviderUnreachable(self.label, attempts, exc) from exc
