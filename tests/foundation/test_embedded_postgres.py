"""The embedded server is PostgreSQL 18 + pgvector 0.8; an older data dir is refused with advice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from devtools import REPO_ROOT
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


def test_server_settings_are_applied_before_the_server_is_used(tmp_path: Path) -> None:
    """Settings that take effect only at start (shared_buffers, io_method) are written and the
    server restarted, so an eval measures the server it asked for, on a new data dir too."""
    script = (
        "import sys, psycopg\n"
        "from pathlib import Path\n"
        "from devtools.postgres import start_embedded\n"
        "url = start_embedded(Path(sys.argv[1]), cleanup='delete',\n"
        "                     server_settings={'shared_buffers': '48MB', 'io_method': 'sync'})\n"
        "with psycopg.connect(url) as conn:\n"
        "    print(*(conn.execute(f'SHOW {n}').fetchone()[0] for n in ('shared_buffers', "
        "'io_method')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "pgdata")],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["48MB", "sync"], done.stdout
