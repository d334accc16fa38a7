from __future__ import annotations

import psycopg

from service.core.migrations import apply_migrations
from tests.conftest import _database_url


def test_migrations_apply_from_empty_and_are_idempotent(pg_server_url: str) -> None:
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_check WITH (FORCE)")
        conn.execute("CREATE DATABASE migrate_check")
    url = _database_url(pg_server_url, "migrate_check")

    first = apply_migrations(url)
    assert first and first[0] == "0001_foundation"
    assert apply_migrations(url) == []

    with psycopg.connect(url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        assert {"users", "refresh_tokens", "teacher_student_links"} <= tables
        ext = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert ext is not None
