"""Every response carries `Server-Timing: app;dur=<ms>`, the API's own time to start it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service.app import create_app
from service.core.config import Settings
from tests.conftest import LiveServer

_APP_DURATION = re.compile(r"^app;dur=(\d+\.\d)$")
SLOW_SECONDS = 0.15


def _app_ms(response: httpx.Response) -> float:
    """The one `app` entry's duration; fails on a missing, repeated or malformed header."""
    values = response.headers.get_list("server-timing")
    assert len(values) == 1, values
    match = _APP_DURATION.match(values[0])
    assert match, values[0]
    return float(match.group(1))


@pytest.fixture
def timed_server(settings: Settings) -> LiveServer:
    app = create_app(settings)
    extra = APIRouter()

    @extra.get("/api/test-slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(SLOW_SECONDS)
        return {"ok": True}

    @extra.get("/api/test-boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @extra.get("/api/test-stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            await asyncio.sleep(SLOW_SECONDS)
            yield b"data: last\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    app.include_router(extra)
    return LiveServer(app)


# path, expected status, the least and the most the API may report (ms; None: the client's time)
CASES = [
    ("/api/health", 200, 0.0, None),
    ("/api/test-slow", 200, SLOW_SECONDS * 1000, None),
    ("/api/does-not-exist", 404, 0.0, None),
    ("/api/test-boom", 500, 0.0, None),
    # A stream reports its time to the first byte, not its length.
    ("/api/test-stream", 200, 0.0, SLOW_SECONDS * 1000),
]


@pytest.mark.parametrize(("path", "status", "least_ms", "most_ms"), CASES)
def test_every_response_reports_its_time_in_the_api(
    timed_server: LiveServer, path: str, status: int, least_ms: float, most_ms: float | None
) -> None:
    with timed_server as srv:
        started = time.perf_counter()
        r = httpx.get(f"{srv.url}{path}")
        client_ms = (time.perf_counter() - started) * 1000
    assert r.status_code == status
    app_ms = _app_ms(r)
    assert least_ms <= app_ms <= client_ms
    if most_ms is not None:
        assert app_ms < most_ms
