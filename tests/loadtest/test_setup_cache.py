"""A load-test run starts with cold caches, whatever the run before it left behind."""

from __future__ import annotations

import psycopg

from loadtest.setup import empty_rag_cache


def test_setup_drops_what_an_earlier_run_cached(clean_db: str) -> None:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for i, layer in enumerate(["embedding", "search", "answer"]):
            conn.execute(
                "INSERT INTO rag_cache (key, layer, value, expires_at) "
                "VALUES (%s, %s, '{}'::jsonb, now() + interval '1 hour')",
                (f"k{i}", layer),
            )
    assert empty_rag_cache(clean_db) == 3
    with psycopg.connect(clean_db) as conn:
        left = conn.execute("SELECT count(*) FROM rag_cache").fetchone()
    assert left is not None and left[0] == 0
