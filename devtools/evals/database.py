"""Isolated eval databases on an embedded server (never the app's own database)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from devtools.devstack.postgres import start_embedded
from service.core.migrations import apply_migrations


def fresh_database(data_dir: Path, name: str, database_url: str = "") -> str:
    """Drops and recreates `name`, migrated; on DATABASE_URL's server if given, else embedded."""
    server = database_url or start_embedded(data_dir)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_dbname(server, name)
    apply_migrations(url)
    return url


def existing_database(data_dir: Path, name: str, database_url: str = "") -> str:
    return _with_dbname(database_url or start_embedded(data_dir), name)


def _with_dbname(url: str, name: str) -> str:
    if "@/postgres?" in url:  # pgserver: postgresql://postgres:@/postgres?host=/path
        return url.replace("@/postgres?", f"@/{name}?")
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]
