"""The drills run for real against embedded PostgreSQL (runbooks/procedures/drills.md)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import psycopg
import pytest

from devtools.drills import backup_restore, key_rotation, reembed
from devtools.postgres import create_scratch_database


@pytest.fixture
def source_db(pg_server_url: str) -> str:
    """A database shaped like production's: pgvector + HNSW, FTS, JSONB, the job-queue schema."""
    url = create_scratch_database(pg_server_url, "drill_src", migrate=False)
    backup_restore.seed_sample(url)
    schema = files("procrastinate").joinpath("sql/schema.sql").read_text()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(schema)
        conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
            "VALUES ('ingest', 'ingest_document', '{\"document\": \"ü\"}')"
        )
    return url


def test_backup_restore_drill(source_db: str, tmp_path: Path) -> None:
    report_path = tmp_path / "backup-restore.json"
    assert backup_restore.main(["--database-url", source_db, "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    assert report["mismatches"] == []
    assert report["rows"] >= 501
    assert report["tables"] >= 5
    assert report["hnsw_indexes"] == 1
    assert report["dump_bytes"] > 0
    # The scratch database is gone afterwards.
    with psycopg.connect(source_db) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill_restore_%'"
        ).fetchone()
    assert left == (0,)


def test_snapshot_comparison_detects_a_changed_row(source_db: str) -> None:
    with psycopg.connect(source_db, autocommit=True) as conn:
        before = backup_restore.take_snapshot(conn)
        conn.execute("UPDATE drill_chunks SET content = content || '!' WHERE id = 7")
        conn.execute("DROP INDEX drill_chunks_tsv")
        after = backup_restore.take_snapshot(conn)
    problems = backup_restore.compare(before, after)
    assert any(p.startswith("table public.drill_chunks:") for p in problems)
    assert any("drill_chunks_tsv" in p for p in problems)
    assert len(problems) == 2


def test_reembed_drill(pg_server_url: str, tmp_path: Path) -> None:
    url = create_scratch_database(pg_server_url, "drill_reembed_test", migrate=False)
    report_path = tmp_path / "reembed.json"
    assert reembed.main(["--database-url", url, "--report", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["ok"] is True
    assert report["searches"] > 50
    assert report["failed"] == report["empty"] == report["wrong_model_after_switch"] == 0
    assert report["chunks_reembedded"] == reembed.DOCUMENTS * reembed.CHUNKS_PER_DOCUMENT
    assert report["new_index_used"] and report["old_index_dropped"]


def test_reembed_drill_fails_when_old_vectors_go_first(pg_server_url: str) -> None:
    """Deleting the old vectors before switching the query model leaves searches empty."""
    url = create_scratch_database(pg_server_url, "drill_reembed_bad", migrate=False)
    report = reembed.run(url, cleanup_before_switch=True)
    assert report.ok is False
    assert report.empty > 0


@pytest.fixture(scope="module")
def keys_db(pg_server_url: str) -> str:
    return create_scratch_database(pg_server_url, "drill_keys_test")


def test_key_rotation_drill(keys_db: str, tmp_path: Path) -> None:
    report = key_rotation.run(keys_db, tmp_path)
    assert report.ok, report
    assert report.failed == 0
    assert report.kids_seen == 2
    assert report.old_token_valid_after_switch
    assert report.jwks_kids_at_end == 1


def test_key_rotation_drill_fails_without_announcing_the_new_key(
    keys_db: str, tmp_path: Path
) -> None:
    """Signing with a key that a slower-reloading instance does not know yet breaks requests.

    The slow instance doesn't reload within the drill at all: with a 10 s period, a loaded
    machine's slow logins sometimes let it reload before the probe, and the drill passed."""
    report = key_rotation.run(
        keys_db, tmp_path, reload_seconds=(0.1, 3600.0), skip_announce=True, settle_seconds=0.5
    )
    assert report.ok is False
    assert report.failed > 0
    # The deterministic part: the first new-key token is refused by the instance still on the
    # old key ring (the client thread usually hits the same window many times too).
    assert any(failure.startswith("probe 401") for failure in report.failures)
    assert all("401" in failure for failure in report.failures)
