"""The embedded server is PostgreSQL 18 + pgvector 0.8; an older data dir is refused with advice."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from devtools.devstack.cli import main as devstack
from devtools.postgres import DataDirTooOld, bundled_major, check_data_dir


def test_server_versions(pg_server_url: str) -> None:
    with psycopg.connect(pg_server_url) as conn:
        major = conn.execute("SHOW server_version_num").fetchone()
        assert major is not None and int(major[0]) // 10000 == bundled_major() == 18
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert row is not None and tuple(int(p) for p in row[0].split(".")[:2]) >= (0, 8)


def test_a_data_dir_from_postgresql_16_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "pgdata"
    data.mkdir()
    (data / "PG_VERSION").write_text("16\n")
    with pytest.raises(DataDirTooOld) as caught:
        check_data_dir(data)
    assert "make reset" in str(caught.value) and "PostgreSQL 16" in str(caught.value)
    check_data_dir(tmp_path / "never-made")  # a new data dir is fine


def test_make_migrate_says_what_to_do_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("16\n")
    monkeypatch.setenv("LOCAL_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert devstack(["migrate"]) == 1
    err = capsys.readouterr().err
    assert "PostgreSQL 16" in err and "make reset" in err
