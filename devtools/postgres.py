"""Embedded PostgreSQL (PyPI pgserver) and scratch databases: the local stack, drills, evals, tests.

Every "new database on this server, migrated" goes through `create_scratch_database`, so the
URL rewriting and the drop-before-create live in one place.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from service.core.migrations import apply_migrations

Cleanup = Literal["stop", "delete"] | None


def start_embedded(data_dir: Path, *, cleanup: Cleanup = "stop") -> str:
    """Start (or attach to) the server that owns data_dir and return its URL.

    pgserver reference-counts the processes using one data dir, so `make up` and a concurrent
    `make migrate` share the server. cleanup: "stop" means the last process to exit stops it,
    "delete" also deletes data_dir, None leaves it running.
    """
    # Only the parent: pgserver creates the data dir itself, with the ownership it needs as root.
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # pgserver keeps its lock file in platformdirs' runtime dir, which must be private (0700) and
    # is read when pgserver is imported: set it first, or platformdirs warns and falls back.
    runtime = data_dir.parent / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # heavy import, only needed locally

    server = pgserver.get_server(str(data_dir), cleanup_mode=cleanup)
    return str(server.get_uri())


def database_url(server_url: str, dbname: str) -> str:
    """The same server and credentials, another database (URLs stay URLs: yoyo needs one)."""
    parts = urlsplit(server_url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(parts._replace(path=f"/{dbname}"))
    params = {k: str(v) for k, v in conninfo_to_dict(server_url).items() if v is not None}
    params["dbname"] = dbname
    return make_conninfo("", **params)


def create_scratch_database(server_url: str, name: str, *, migrate: bool = True) -> str:
    """A new empty database `name` on the server of `server_url` (any database URL on it).

    An existing one is dropped first, even with clients still connected. With `migrate`, the
    packaged migrations are applied. Returns the new database's URL.
    """
    drop_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(server_url, name)
    if migrate:
        apply_migrations(url)
    return url


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def pg_binary(name: str) -> str:
    """``PG_BIN_DIR``, else the embedded server's own binaries, else PATH.

    pg_dump refuses servers newer than itself, so the embedded 16.x binaries beat an older
    system one.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]) / name)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; set PG_BIN_DIR")
    return found
