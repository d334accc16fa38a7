"""Fixtures for the observability tests: a real embedded PostgreSQL for the samplers."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def obs_pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An embedded PostgreSQL 16 + pgvector (PyPI pgserver), stopped when the session ends."""
    import pgserver

    server = pgserver.get_server(str(tmp_path_factory.mktemp("obs-pg")), cleanup_mode="stop")
    return str(server.get_uri())
