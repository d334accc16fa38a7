"""Live recall: sampled searches are checked against exact search off the request path, and a
real question observes both legs' durations and the recall counters."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from devtools.evals.retrieval_eval import open_pool
from service.access.scope import AccessScope
from service.cache.generations import generations
from service.search.hybrid import HybridResult, SearchParams, hybrid_search
from service.search.live_recall import LiveRecall, Sample
from service.search.plan import VectorPlan
from service.search.query_embedding import QueryEmbedder
from tests.conftest import ApiSettings, StartApi
from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.seed import MODEL, add_document
from tests.retrieval.test_answers import QUESTION, plant

TOPICS = ["scales", "pedal", "legato", "octaves", "trills", "wrist", "sight reading", "memory"]


def test_checks_each_leg_against_exact_search(
    db: psycopg.Connection, clean_db: str, embed: SyncEmbedder
) -> None:
    texts = [f"Practising {t} slowly, part {i}." for t in TOPICS for i in range(4)]
    add_document(
        db, owner_id=None, is_public=True, title="notes",
        chunks=list(zip(texts, embed(texts), strict=True)),
    )  # fmt: skip
    query = "how to practise the pedal"
    vector = embed([query])[0]
    reported: list[tuple[str, int, int]] = []

    async def run() -> list[dict[str, tuple[int, int]] | None]:
        pool = await open_pool(clean_db, max_size=2)
        try:
            params = SearchParams(MODEL, 384)
            recall = LiveRecall(pool, params, 1.0, lambda *r: reported.append(r))
            scope = AccessScope(True)
            async with pool.connection() as conn:
                result = await hybrid_search(
                    conn, params=params, scope=scope, plan=VectorPlan("exact", 40),
                    query_text=query, query_vector=vector, limit=10,
                )  # fmt: skip
                generation = (await generations(conn, scope)).scope

            def sample(live: HybridResult, gen: int) -> Sample:
                return Sample(
                    scope, gen, query, vector, live.vector_ids[:10], live.lexical_ids[:10]
                )

            right = await recall.check(sample(result, generation))
            # A search that got three of each leg's top 10 wrong.
            wrong = HybridResult(
                [], [*result.vector_ids[3:13], -1, -2, -3], result.lexical_ids[3:], 0, 0, 0
            )
            wrong_check = await recall.check(sample(wrong, generation))
            # The knowledge changed since the search: nothing to compare, nothing reported.
            async with pool.connection() as conn:
                await conn.execute("SELECT bump_knowledge_generation(ARRAY['all', 'public'])")
            moved = await recall.check(sample(result, generation))
            return [right, wrong_check, moved]
        finally:
            await pool.close()

    right, wrong, moved = asyncio.run(run())
    assert right == {"vector": (10, 10), "lexical": (10, 10)}
    assert wrong is not None
    assert wrong["vector"] == (7, 10)
    lexical_found, lexical_expected = wrong["lexical"]
    assert lexical_expected == 10 and lexical_found == 7
    assert moved is None
    assert reported == [("vector", 10, 10), ("lexical", 10, 10), ("vector", 7, 10),
                        ("lexical", 7, 10)]  # fmt: skip


def test_sampling_rate_and_the_queue_keep_checks_off_the_request_path(clean_db: str) -> None:
    async def run() -> tuple[int, int]:
        pool = await open_pool(clean_db, max_size=1)
        try:
            never = LiveRecall(pool, SearchParams(MODEL, 384), 0.0, lambda *r: None)
            result = HybridResult([], [1], [1], 0, 0, 0)
            taken = sum(
                never.offer(AccessScope(True), 0, "q", [0.0] * 384, result) for _ in range(50)
            )
            always = LiveRecall(pool, SearchParams(MODEL, 384), 1.0, lambda *r: None)
            # Offers never wait: past the queue's few places, samples are dropped, not queued.
            started = time.perf_counter()
            queued = sum(
                always.offer(AccessScope(True), 0, "q", [0.0] * 384, result) for _ in range(50)
            )
            assert time.perf_counter() - started < 0.5
            await always.aclose()
            return taken, queued
        finally:
            await pool.close()

    taken, queued = asyncio.run(run())
    assert taken == 0
    assert 0 < queued < 50


def _samples(api_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{api_url}/api/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_a_question_observes_leg_durations_and_live_recall(
    start_api: StartApi,
    api_settings: ApiSettings,
    embedder: QueryEmbedder,
    db: psycopg.Connection,
    embed: SyncEmbedder,
) -> None:
    api = start_api(api_settings(search_live_recall_sample_rate=1.0), embedder=embedder)
    plant(db, embed)
    vector_count = ("vector_search_duration_seconds_count", ())
    lexical_count = ("fts_search_duration_seconds_count", ())
    expected = ("search_recall_expected_total", (("leg", "vector"),))
    found = ("search_recall_found_total", (("leg", "vector"),))
    before = _samples(api.url)
    with httpx.Client(base_url=api.url, timeout=60) as client:
        student = Accounts(client, db.info.dsn).create("student")
        r = client.post(
            "/api/chat/query",
            json={"query": f"{QUESTION} ({uuid.uuid4().hex[:6]})"},
            headers=student.headers,
        )
        assert r.status_code == 200, r.text
    after = _samples(api.url)
    assert after[vector_count] == before.get(vector_count, 0) + 1
    assert after[lexical_count] == before.get(lexical_count, 0) + 1
    deadline = time.monotonic() + 20
    while after.get(expected, 0) == before.get(expected, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
        after = _samples(api.url)
    # Three chunks in scope: the exact top 10 has three, and the live search found them all.
    assert after[expected] - before.get(expected, 0) == 3
    assert after[found] - before.get(found, 0) == 3
