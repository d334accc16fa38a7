"""Cache keys per scope, invalidation when a document in scope changes, fail-open, purge."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

from service.access.scope import AccessScope
from service.cache.backends import MemoryCache
from service.cache.layers import RagCache, cache_key
from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.seed import add_document, delete_document
from tests.retrieval.test_answers import QUESTION, plant


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
    text = "Finger independence: practise trills slowly with each finger pair."
    doc = add_document(
        db,
        owner_id=teacher.id,
        is_public=False,
        title="Teacher notes",
        chunks=[(text, embed([text])[0])],
    )
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
