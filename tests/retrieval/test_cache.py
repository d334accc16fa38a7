"""Cache keys per scope, invalidation when a document in scope changes, fail-open, purge."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

from service.access.scope import AccessScope
from service.cache.backends import MemoryCache, NearCache, PostgresCache, sweep_expired
from service.cache.layers import RagCache, cache_key
from service.core.db import create_pool
from service.search.query_embedding import QueryEmbedder
from tests.conftest import Api, StartApi, make_settings
from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.seed import add_document, delete_document
from tests.retrieval.test_answers import QUESTION, parse_sse, plant


def test_keys_differ_by_scope_model_and_version() -> None:
    a = AccessScope(everything=False, owner_ids=frozenset())
    b = AccessScope(everything=True)
    base = {"model": "m", "parts": {"q": "x"}}
    ka = cache_key("search", scope=a.fingerprint, **base)  # type: ignore[arg-type]
    kb = cache_key("search", scope=b.fingerprint, **base)  # type: ignore[arg-type]
    assert ka != kb
    assert ka.startswith("rag:v1:search:") and len(ka.split(":")[-1]) == 64
    assert cache_key("search", model="m2", scope=a.fingerprint, parts={"q": "x"}) != ka
    assert cache_key("answer", model="m", scope=a.fingerprint, parts={"q": "x"}) != ka


class Broken:
    async def get(self, key: str) -> Any:
        raise ConnectionError("cache down")

    async def set(self, key: str, layer: str, value: Any, ttl_seconds: int) -> None:
        raise ConnectionError("cache down")

    async def purge(self, layer: str | None) -> int:
        raise ConnectionError("cache down")


def test_cache_fails_open_and_counts() -> None:
    asyncio.run(_fail_open())


async def _fail_open() -> None:
    seen: list[tuple[str, str]] = []
    cache = RagCache(Broken(), {"search": 60}, hook=lambda layer, r: seen.append((layer, r)))
    assert await cache.get("search", "k") is None
    await cache.set("search", "k", [1])
    assert seen == [("search", "error"), ("search", "error")]
    mem = RagCache(MemoryCache(), {"search": 60})
    assert await mem.get("search", "k") is None
    await mem.set("search", "k", [1])
    assert await mem.get("search", "k") == [1]
    assert mem.counts[("search", "miss")] == 1 and mem.counts[("search", "hit")] == 1


def _ask(client: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    r = client.post("/api/chat/query", json={"query": QUESTION, "top_k": 10}, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def add_teacher_notes(db: psycopg.Connection, embed: SyncEmbedder, teacher_id: str) -> str:
    """A private document of the teacher's, as if just uploaded: its linked students read it."""
    text = "Finger independence: practise trills slowly with each finger pair."
    return add_document(
        db,
        owner_id=teacher_id,
        is_public=False,
        title="Teacher notes",
        chunks=[(text, embed([text])[0])],
    )


def test_upload_and_delete_in_scope_invalidate_search_cache(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    teacher = accounts.create("teacher")
    student = accounts.create("student")
    accounts.link(teacher, student)
    plant(db, embed)
    first = _ask(client, student.headers)
    assert len(first["sources"]) == 3
    again = _ask(client, student.headers)
    assert [s["chunk_id"] for s in again["sources"]] == [s["chunk_id"] for s in first["sources"]]
    rows = db.execute("SELECT layer, count(*) FROM rag_cache GROUP BY layer").fetchall()
    assert {layer for layer, _ in rows} == {"embedding", "search", "answer"}

    # The linked teacher uploads: the student's next query sees it at once.
    doc = add_teacher_notes(db, embed, teacher.id)
    after_upload = _ask(client, student.headers)
    assert "Teacher notes" in {s["title"] for s in after_upload["sources"]}

    delete_document(db, doc)
    after_delete = _ask(client, student.headers)
    assert "Teacher notes" not in {s["title"] for s in after_delete["sources"]}


def test_admin_purges_answer_cache(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    teacher = accounts.create("teacher")
    admin = accounts.create("admin")
    plant(db, embed)
    _ask(client, teacher.headers)
    assert client.delete("/api/chat/cache", headers=teacher.headers).status_code == 403
    r = client.delete("/api/chat/cache", headers=admin.headers)
    assert r.status_code == 200 and r.json() == {"purged": 1, "layer": "answer"}
    left = db.execute("SELECT count(*) FROM rag_cache WHERE layer = 'answer'").fetchone()
    assert left == (0,)
    r = client.delete("/api/chat/cache?layer=bogus", headers=admin.headers)
    assert r.status_code == 422


def test_queries_and_cache_layers_are_counted(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    from prometheus_client import REGISTRY

    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    teacher = accounts.create("teacher")
    plant(db, embed)
    ok_before = value("rag_queries_total", {"outcome": "ok"})
    hits_before = value("cache_requests_total", {"layer": "search", "result": "hit"})
    _ask(client, teacher.headers)
    _ask(client, teacher.headers)
    assert value("rag_queries_total", {"outcome": "ok"}) == ok_before + 2
    assert value("cache_requests_total", {"layer": "search", "result": "hit"}) >= hits_before + 1
    assert value("rag_query_duration_seconds_count", {"stage": "total"}) >= 2


def test_near_cache_reads_skip_the_database_and_lag_a_purge_elsewhere_by_its_ttl(
    clean_db: str, tmp_path: Any
) -> None:
    """Two API processes, each with its own near copy, over one shared table."""

    async def run() -> None:
        pool = create_pool(make_settings(clean_db, tmp_path), clean_db)
        await pool.open(wait=True)
        try:
            shared = PostgresCache(pool)
            a, b = NearCache(shared, 1, 100), NearCache(shared, 1, 100)
            await a.set("k", "answer", {"answer": "x"}, 3600)
            assert await b.get("k") == {"answer": "x"}  # from the table, now kept by b too
            async with pool.connection() as conn:
                await conn.execute("DELETE FROM rag_cache")
            # Neither process reads the table again while its copy lives...
            assert await a.get("k") == {"answer": "x"} and await b.get("k") == {"answer": "x"}
            # ...a purge empties the purging process's copy at once...
            await a.set("k", "answer", {"answer": "x"}, 3600)
            assert await a.purge("answer") == 1
            assert await a.get("k") is None
            # ...and reaches the other's within the near TTL.
            await asyncio.sleep(1.1)
            assert await b.get("k") is None
            # A layer TTL shorter than the near one bounds the copy too.
            await a.set("short", "search", [1], 0)
            assert await a.get("short") is None
        finally:
            await pool.close()

    asyncio.run(run())


def test_a_cache_write_leaves_expired_rows_to_the_sweep(clean_db: str, tmp_path: Any) -> None:
    async def run() -> None:
        pool = create_pool(make_settings(clean_db, tmp_path), clean_db)
        await pool.open(wait=True)
        try:
            async with pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO rag_cache (key, layer, value, expires_at) "
                    "SELECT 'old' || i, 'answer', '{}'::jsonb, now() - interval '1 minute' "
                    "FROM generate_series(1, 3) AS i"
                )
            cache = PostgresCache(pool)
            await cache.set("live", "answer", {"answer": "x"}, 3600)
            async with pool.connection() as conn:
                cur = await conn.execute("SELECT count(*) AS n FROM rag_cache")
                assert (await cur.fetchone()) == {"n": 4}  # the write swept nothing
                assert await sweep_expired(conn, batch=2) == 3  # in batches, until none is left
                cur = await conn.execute("SELECT key FROM rag_cache")
                assert await cur.fetchall() == [{"key": "live"}]
        finally:
            await pool.close()

    asyncio.run(run())


@pytest.fixture(scope="module")
def near_api(start_api: StartApi, live_api: Api, embedder: QueryEmbedder) -> Api:
    """The suite's API with the production default, near copies of cache entries in the
    process; it shares the suite's signing keys, so the `accounts` tokens work on it."""
    settings = live_api.settings.model_copy(update={"cache_near_ttl_seconds": 60})
    return start_api(settings, embedder=embedder)


def test_near_copies_still_see_a_change_in_scope_at_once(
    near_api: Api, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    """Cache keys carry the scope's knowledge generation, so a kept copy can't hide an upload or
    a delete, and a repeat is answered from the process even with the shared table emptied."""
    teacher = accounts.create("teacher")
    student = accounts.create("student")
    accounts.link(teacher, student)
    plant(db, embed)

    def ask(client: httpx.Client) -> tuple[set[str], dict[str, Any]]:
        """(titles of the sources, the done event) of one streamed answer."""
        body = {"query": QUESTION, "top_k": 10, "stream": True}
        with client.stream("POST", "/api/chat/query", json=body, headers=student.headers) as r:
            events = parse_sse(r.read().decode())
        return {s["title"] for s in events[0][1]["sources"]}, events[-1][1]

    with httpx.Client(base_url=near_api.url, timeout=60) as client:
        assert ask(client)[1]["cached"] == {"search": False, "answer": False}
        db.execute("DELETE FROM rag_cache")
        assert ask(client)[1]["cached"] == {"search": True, "answer": True}

        doc = add_teacher_notes(db, embed, teacher.id)
        titles, done = ask(client)
        assert done["cached"]["search"] is False and "Teacher notes" in titles

        delete_document(db, doc)
        titles, done = ask(client)
        assert done["cached"]["search"] is False and "Teacher notes" not in titles


@pytest.mark.parametrize(
    ("change", "search_cached"),
    [
        ({}, True),  # another process with the same ranking shares the entry
        ({"lexical_budget": 500}, False),
        ({"ef_search": 120}, False),
        ({"rrf_k": 30}, False),
    ],
    ids=["same ranking", "lexical budget", "ef_search", "rrf_k"],
)
def test_a_deploy_that_changes_ranking_does_not_serve_searches_cached_before_it(
    change: dict[str, Any],
    search_cached: bool,
    start_api: StartApi,
    live_api: Api,
    embedder: QueryEmbedder,
    client: httpx.Client,
    accounts: Accounts,
    db: psycopg.Connection,
    embed: SyncEmbedder,
) -> None:
    """The cache table outlives a deploy; its search entries name the ranking that made them."""
    teacher = accounts.create("teacher")
    plant(db, embed)

    def done(c: httpx.Client) -> dict[str, Any]:
        body = {"query": QUESTION, "top_k": 10, "stream": True}
        with c.stream("POST", "/api/chat/query", json=body, headers=teacher.headers) as r:
            return dict(parse_sse(r.read().decode())[-1][1])

    assert done(client)["cached"]["search"] is False
    search = live_api.settings.search.model_copy(update=change)
    deployed = start_api(live_api.settings.model_copy(update={"search": search}), embedder=embedder)
    with httpx.Client(base_url=deployed.url, timeout=60) as after:
        assert done(after)["cached"]["search"] is search_cached
        assert done(after)["cached"]["search"] is True  # and caches its own


def test_the_ranking_fingerprint_names_both_legs_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    from psycopg import sql

    from service.search import hybrid
    from service.search.hybrid import SearchParams, ranking_fingerprint

    params = SearchParams(model="m", dimensions=384)
    before = ranking_fingerprint(params, {"search": {}})
    assert ranking_fingerprint(params, {"search": {}}) == before
    assert ranking_fingerprint(params, {"search": {"ef_search": 1}}) != before
    monkeypatch.setattr(
        hybrid, "lexical_leg", lambda *_: sql.SQL("SELECT id, 1 AS score FROM document_chunks")
    )
    assert ranking_fingerprint(params, {"search": {}}) != before
