"""Load shedding: cold questions queue for the cold path and are shed (503 `overloaded`) only
when it is saturated; cached answers never wait; the in-flight backstop sheds at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from service.answers.admission import ColdPathGate, Overloaded
from service.core.admission import AdmissionMiddleware
from service.core.errors import install_error_handlers
from service.core.middleware import RequestIdMiddleware
from service.search.query_embedding import QueryEmbedder
from tests.conftest import ApiSettings, LiveServer, StartApi
from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.test_answers import QUESTION, plant


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


# ---- the cold-path gate ----------------------------------------------------------------------


def test_gate_queues_in_order_and_sheds_only_when_saturated() -> None:
    async def run() -> None:
        gate = ColdPathGate(concurrency=2, max_queue=2, max_wait_seconds=5)
        release = asyncio.Event()
        order: list[int] = []

        async def question(n: int) -> None:
            async with gate.slot():
                order.append(n)
                await release.wait()

        running = [asyncio.create_task(question(n)) for n in range(4)]
        await asyncio.sleep(0.05)
        assert gate.state.running == 2 and gate.state.waiting == 2 and order == [0, 1]
        # Two running, two waiting: the queue is full, so the fifth is shed at once.
        with pytest.raises(Overloaded) as shed:
            async with gate.slot():
                pass
        assert shed.value.reason == "queue_full"
        release.set()
        await asyncio.gather(*running)
        assert order == [0, 1, 2, 3]  # waiters ran in arrival order
        assert gate.state.running == 0 and gate.state.waiting == 0

    asyncio.run(run())


def test_gate_says_when_a_question_is_the_only_cold_work() -> None:
    """The engine runs a search's two legs at once only then (service/answers/engine.py)."""

    async def run() -> None:
        gate = ColdPathGate(concurrency=2, max_queue=4, max_wait_seconds=5)
        assert gate.alone
        release = asyncio.Event()
        seen: list[bool] = []

        async def question() -> None:
            async with gate.slot():
                seen.append(gate.alone)
                await release.wait()

        first = asyncio.create_task(question())
        await asyncio.sleep(0.02)
        assert seen == [True] and gate.alone  # one running, nobody waiting
        second = asyncio.create_task(question())
        await asyncio.sleep(0.02)
        assert seen == [True, False] and not gate.alone  # two running
        third = asyncio.create_task(question())
        await asyncio.sleep(0.02)
        assert gate.state.waiting == 1 and not gate.alone
        release.set()
        await asyncio.gather(first, second, third)
        assert gate.alone

    asyncio.run(run())


def test_gate_sheds_on_the_expected_wait_and_after_waiting_too_long() -> None:
    async def run() -> None:
        gate = ColdPathGate(concurrency=1, max_queue=100, max_wait_seconds=0.2)
        async with gate.slot():
            await asyncio.sleep(0.3)  # the cold path is known to take ~0.3 s per question
        hold = asyncio.Event()

        async def long_question() -> None:
            async with gate.slot():
                await hold.wait()

        task = asyncio.create_task(long_question())
        waiting = asyncio.create_task(long_question())
        await asyncio.sleep(0.01)
        # A full round already waiting, ~0.3 s each: the wait would exceed 0.2 s, so shed at once.
        started = time.perf_counter()
        with pytest.raises(Overloaded) as shed:
            async with gate.slot():
                pass
        assert shed.value.reason == "wait_estimate"
        assert time.perf_counter() - started < 0.1
        hold.set()
        await asyncio.gather(task, waiting)  # the one waiting got the slot handed over

        # A fast history, but a question that holds its slot: the waiter gives up after 0.2 s.
        gate = ColdPathGate(concurrency=1, max_queue=100, max_wait_seconds=0.2)
        hold = asyncio.Event()
        task = asyncio.create_task(long_question())
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as shed:
            async with gate.slot():
                pass
        assert shed.value.reason == "wait_timeout"
        assert gate.state.waiting == 0
        hold.set()
        await task
        async with gate.slot():  # and the gate still works
            assert gate.state.running == 1

    asyncio.run(run())


class GatedEmbedder:
    """The real embedder, except that while `hold` is clear embedding blocks (a cold question
    stuck in the cold path)."""

    def __init__(self, inner: QueryEmbedder) -> None:
        self.inner = inner
        self.model = inner.model
        self.dimensions = inner.dimensions
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.entered.set()
        await asyncio.to_thread(self.hold.wait, 30)
        return await self.inner.embed(texts)


def test_cached_answers_never_wait_behind_cold_questions(
    start_api: StartApi,
    api_settings: ApiSettings,
    embedder: QueryEmbedder,
    db: psycopg.Connection,
    embed: SyncEmbedder,
) -> None:
    gated = GatedEmbedder(embedder)
    api = start_api(
        api_settings(rag_cold_concurrency=1, rag_cold_queue=0, llm_provider="extractive"),
        embedder=gated,
    )
    plant(db, embed)
    with httpx.Client(base_url=api.url, timeout=60) as client, ThreadPoolExecutor(1) as pool:
        student = Accounts(client, db.info.dsn).create("student")
        session = client.post("/api/chat/sessions", headers=student.headers).json()["id"]

        def ask(query: str, **extra: object) -> httpx.Response:
            return client.post(
                "/api/chat/query",
                json={"query": query, **extra},
                headers={**student.headers, "X-Request-ID": "q-" + query[:8].replace(" ", "-")},
            )

        assert ask(QUESTION).status_code == 200  # answered once: now cached
        gated.hold.clear()
        gated.entered.clear()
        cold = pool.submit(ask, "What does Hofmann say about the soft pedal?")
        assert gated.entered.wait(30)  # the cold question holds the only cold slot

        started = time.perf_counter()
        cached = ask(QUESTION)
        assert cached.status_code == 200, cached.text
        assert "rerank" not in cached.json()["timings_ms"]  # served from the search cache
        assert time.perf_counter() - started < 5  # it didn't wait for the stuck one (30 s)

        # Another cold question finds the cold path full (no queue here): 503 at once, and
        # the question isn't stored in the session it named.
        shed = ask("How long should I practise scales each day?", session_id=session)
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        assert shed.json()["error"]["code"] == "overloaded"
        messages = client.get(f"/api/chat/sessions/{session}", headers=student.headers).json()
        assert messages["messages"] == []

        gated.hold.set()
        assert cold.result(60).status_code == 200
        assert ask("How long should I practise scales each day?").status_code == 200
