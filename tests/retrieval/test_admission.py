"""Load shedding: past the in-flight limit, RAG queries get an immediate 503 `overloaded`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from service.core.admission import AdmissionMiddleware
from service.core.errors import install_error_handlers
from service.core.middleware import RequestIdMiddleware
from tests.conftest import LiveServer


def _app(release: threading.Event) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/api/chat/query")
    async def slow() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"event: sources\ndata: []\n\n"
            await asyncio.to_thread(release.wait, 30)  # a thread-safe event set by the test
            yield b"event: done\ndata: {}\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(AdmissionMiddleware, paths=frozenset({"/api/chat/query"}), max_in_flight=2)
    app.add_middleware(RequestIdMiddleware)
    return app


def test_streams_hold_slots_and_excess_is_shed_then_admitted_again() -> None:
    release = threading.Event()
    with LiveServer(_app(release)) as srv, ThreadPoolExecutor(2) as pool:
        started = threading.Barrier(3)

        def stream() -> int:
            with httpx.stream("POST", f"{srv.url}/api/chat/query", timeout=30) as r:
                lines = r.iter_lines()
                next(lines)  # first event arrived: the slot is taken
                started.wait(10)
                for _ in lines:
                    pass
                return r.status_code

        futures = [pool.submit(stream), pool.submit(stream)]
        started.wait(10)
        shed = httpx.post(
            f"{srv.url}/api/chat/query", headers={"X-Request-ID": "shed-1"}, timeout=5
        )
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["error"] == {
            "code": "overloaded",
            "message": "Too many questions are being answered right now; retry shortly.",
            "request_id": "shed-1",
        }
        # Other routes are never shed.
        assert httpx.get(f"{srv.url}/api/health", timeout=5).status_code == 200

        release.set()
        assert [f.result(30) for f in futures] == [200, 200]
        # Slots were released when the streams ended.
        ok = httpx.post(f"{srv.url}/api/chat/query", timeout=30)
        assert ok.status_code == 200
