"""Embedded PostgreSQL 16 + pgvector from PyPI `pgserver`, used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, stop_on_exit: bool = True) -> str:
    """Start (or attach to) the server that owns data_dir and return its URL.

    pgserver reference-counts users of one data dir, so `make up` and a concurrent `make migrate`
    share the server; with stop_on_exit the last user to leave stops it.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime = data_dir.parent / "run"  # pgserver's platformdirs wants a private runtime dir
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # heavy import, only needed locally

    server = pgserver.get_server(str(data_dir), cleanup_mode="stop" if stop_on_exit else None)
    uri: str = server.get_uri()
    return uri
