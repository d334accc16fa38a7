from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from devtools.postgres import create_scratch_database
from service.core.migrations import (
    MIGRATION_LOCK_KEY,
    SCHEMA_VERSION_SQL,
    NoMigrationsFound,
    apply_migrations,
    migrations_dir,
)


def test_migrations_apply_from_empty_and_are_idempotent(pg_server_url: str) -> None:
    url = create_scratch_database(pg_server_url, "migrate_check", migrate=False)

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


def _run_migrate(env: dict[str, str], *prelude: str) -> subprocess.CompletedProcess[str]:
    """`python -m service.migrate` as production's unit runs it, optionally after some setup code."""
    code = "\n".join(
        [*prelude, "import runpy", "runpy.run_module('service.migrate', run_name='__main__')"]
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "LOG_FORMAT": "console", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_entry_point_applies_the_packaged_migrations(pg_server_url: str) -> None:
    url = create_scratch_database(pg_server_url, "migrate_entry", migrate=False)

    first = _run_migrate({"DATABASE_URL": url})
    assert first.returncode == 0, first.stdout + first.stderr
    again = _run_migrate({"DATABASE_URL": url})
    assert again.returncode == 0, again.stdout + again.stderr
    with psycopg.connect(url) as conn:
        row = conn.execute(SCHEMA_VERSION_SQL).fetchone()
    shipped = [p.stem for p in migrations_dir().glob("*.sql") if ".rollback" not in p.name]
    assert row == (max(shipped),)


def test_migrate_entry_point_needs_a_database_url() -> None:
    result = _run_migrate({"DATABASE_URL": ""})
    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stdout


def test_migrate_entry_point_fails_loudly_without_migrations(
    pg_server_url: str, tmp_path: Path
) -> None:
    """An install that lost its SQL files must not start the API on an empty schema."""
    result = _run_migrate(
        {"DATABASE_URL": pg_server_url},
        "import pathlib, service.core.migrations as m",
        f"m.migrations_dir = lambda: pathlib.Path({str(tmp_path)!r})",
    )
    assert result.returncode == 1
    assert f"no migrations found in {tmp_path}" in result.stdout


def test_apply_migrations_refuses_an_empty_directory(pg_server_url: str, tmp_path: Path) -> None:
    with pytest.raises(NoMigrationsFound):
        apply_migrations(pg_server_url, tmp_path)


def test_migrate_waits_for_the_advisory_lock_and_a_dead_holder_releases_it(
    pg_server_url: str,
) -> None:
    """The lock is a session's: when the holder's session ends (a VM died mid-migration), the
    next run proceeds. yoyo's lock table would have kept the row and blocked every later run."""
    url = create_scratch_database(pg_server_url, "migrate_lock", migrate=False)
    with psycopg.connect(url, autocommit=True) as conn:
        # What yoyo's table lock leaves behind when its process dies: must not matter.
        conn.execute("CREATE TABLE yoyo_lock (locked INT DEFAULT 1, ctime TIMESTAMP, pid INT)")
        conn.execute("INSERT INTO yoyo_lock (ctime, pid) VALUES (now(), 4242)")
    holder = psycopg.connect(url, autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.migrate"],
        env={**os.environ, "LOG_FORMAT": "console", "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)
        assert proc.poll() is None, "migrate did not wait for the lock holder"
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('users')").fetchone() == (None,)
    finally:
        holder.close()  # the holder's session ends, as when its VM dies
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "waiting for another migration" in out
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('users')").fetchone() == ("users",)
        # Nothing of ours is left holding the lock.
        held = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
    assert held == (0,)


def test_migrate_exits_non_zero_when_the_database_is_unreachable() -> None:
    dead = "postgresql://postgres:@/postgres?host=/nonexistent-socket-dir&connect_timeout=1"
    result = _run_migrate({"DATABASE_URL": dead})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "migration failed" in result.stdout
