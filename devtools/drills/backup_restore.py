"""Backup-and-restore drill: dump a database, restore it into a scratch database, prove equality.

Rehearses runbooks/procedures/database-backup-and-restore.md with the same commands (pg_dump
custom format, pg_restore --exit-on-error). The source is only read: digests of every table are
taken in one REPEATABLE READ transaction whose snapshot pg_dump reuses (``--snapshot``), so the
comparison is exact even while the local stack keeps writing.

    python -m devtools.drills.backup_restore [--database-url URL] [--report PATH]

Without a URL (and without DATABASE_URL) it starts an embedded server and seeds sample data.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devtools.drills import EMBEDDED_DIR, parse_args, publish
from devtools.postgres import create_scratch_database, drop_database, pg_binary, start_embedded

SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")

TABLES_SQL = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_temp%%'
ORDER BY 1, 2
"""
INDEXES_SQL = """
SELECT schemaname || '.' || indexname || ': ' || indexdef FROM pg_indexes
WHERE schemaname <> ALL(%s) ORDER BY 1
"""
EXTENSIONS_SQL = "SELECT extname FROM pg_extension ORDER BY 1"


@dataclass
class Snapshot:
    tables: dict[str, tuple[int, str]]  # "schema.table" -> (rows, checksum of all rows)
    indexes: list[str]
    extensions: list[str]


@dataclass
class Report:
    ok: bool
    source: str
    tables: int = 0
    rows: int = 0
    dump_bytes: int = 0
    dump_seconds: float = 0.0
    restore_seconds: float = 0.0
    hnsw_indexes: int = 0
    mismatches: list[str] = field(default_factory=list)


def take_snapshot(conn: psycopg.Connection[Any]) -> Snapshot:
    """Row count and an order-independent checksum per table, plus index and extension lists."""
    tables: dict[str, tuple[int, str]] = {}
    for schema, table in conn.execute(TABLES_SQL, (list(SYSTEM_SCHEMAS),)).fetchall():
        query = sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), ''))"
            " FROM {} AS t"
        ).format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        assert row is not None
        tables[f"{schema}.{table}"] = (int(row[0]), str(row[1]))
    indexes = [r[0] for r in conn.execute(INDEXES_SQL, (list(SYSTEM_SCHEMAS),)).fetchall()]
    extensions = [r[0] for r in conn.execute(EXTENSIONS_SQL).fetchall()]
    return Snapshot(tables, indexes, extensions)


def compare(source: Snapshot, restored: Snapshot) -> list[str]:
    problems = []
    for name in sorted(set(source.tables) | set(restored.tables)):
        if source.tables.get(name) != restored.tables.get(name):
            problems.append(
                f"table {name}: {source.tables.get(name)} != {restored.tables.get(name)}"
            )
    for idx in sorted(set(source.indexes) ^ set(restored.indexes)):
        problems.append(f"index differs: {idx}")
    if source.extensions != restored.extensions:
        problems.append(f"extensions {source.extensions} != {restored.extensions}")
    return problems


def run(database_url: str, work_dir: Path) -> Report:
    """Dump ``database_url``, restore into a scratch database on the same server, compare."""
    report = Report(ok=False, source=_redact(database_url))
    dump = work_dir / "drill.dump"
    scratch = f"drill_restore_{uuid.uuid4().hex[:12]}"
    target_url = create_scratch_database(database_url, scratch, migrate=False)
    try:
        with psycopg.connect(database_url) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            source = take_snapshot(conn)
            start = time.perf_counter()
            _pg(
                "pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                f"--snapshot={row[0]}", f"--file={dump}", database_url,
            )  # fmt: skip
            report.dump_seconds = round(time.perf_counter() - start, 3)
            conn.rollback()
        report.dump_bytes = dump.stat().st_size
        start = time.perf_counter()
        _pg(
            "pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
            f"--dbname={target_url}", str(dump),
        )  # fmt: skip
        report.restore_seconds = round(time.perf_counter() - start, 3)
        with psycopg.connect(target_url) as conn:
            restored = take_snapshot(conn)
    finally:
        drop_database(database_url, scratch)
    report.tables = len(source.tables)
    report.rows = sum(rows for rows, _ in source.tables.values())
    report.hnsw_indexes = sum(1 for idx in restored.indexes if "USING hnsw" in idx)
    report.mismatches = compare(source, restored)
    report.ok = not report.mismatches and report.tables > 0
    return report


SEED_SQL = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    """CREATE TABLE IF NOT EXISTS drill_chunks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        content text NOT NULL,
        meta jsonb NOT NULL DEFAULT '{}',
        embedding vector(8) NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED)""",
    "CREATE INDEX IF NOT EXISTS drill_chunks_hnsw ON drill_chunks "
    "USING hnsw (embedding vector_cosine_ops)",
    "CREATE INDEX IF NOT EXISTS drill_chunks_tsv ON drill_chunks USING gin (tsv)",
    """INSERT INTO drill_chunks (content, meta, embedding)
       SELECT 'Scale practice ' || g || ': play C major hands together, tempo ' || (60 + g % 60),
              jsonb_build_object('page', g % 40, 'title', 'Étude ' || g),
              (SELECT array_agg(random())::vector(8) FROM generate_series(1, 8) WHERE g > 0)
       FROM generate_series(1, 500) AS g""",
]


def seeded_embedded_database(data_dir: Path) -> str:
    """An embedded server with a fresh sample database (vectors, HNSW, FTS, JSONB, unicode)."""
    url = create_scratch_database(start_embedded(data_dir), "drill_source", migrate=False)
    seed_sample(url)
    return url


def seed_sample(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in SEED_SQL:
            conn.execute(statement)


def _pg(tool: str, *args: str) -> None:
    # Arguments are our own flags plus the operator's database URL; no shell is involved.
    result = subprocess.run([pg_binary(tool), *args], capture_output=True, text=True)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr.strip()}")


def _redact(url: str) -> str:
    params = psycopg.conninfo.conninfo_to_dict(url)
    return f"{params.get('host') or 'localhost'}/{params.get('dbname') or ''}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, "backup-restore.json", argv)
    with tempfile.TemporaryDirectory(prefix="drill-backup-") as tmp:
        url = args.database_url or seeded_embedded_database(EMBEDDED_DIR)
        report = run(url, Path(tmp))
    return publish(report, args.report)


if __name__ == "__main__":
    sys.exit(main())
