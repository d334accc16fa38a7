"""Locating PostgreSQL client binaries and embedded servers for the drills."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo


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


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database (URLs stay URLs: yoyo needs one)."""
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        return urlunsplit(parts._replace(path=f"/{dbname}"))
    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    params["dbname"] = dbname
    return make_conninfo("", **params)


def start_embedded(data_dir: Path) -> str:
    """Start (or reuse) an embedded PostgreSQL 16 + pgvector from PyPI pgserver; returns its URL."""
    import pgserver

    # Only the parent: pgserver creates the data dir itself, with the ownership it needs.
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    return str(server.get_uri())
