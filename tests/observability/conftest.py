"""Fixtures for the observability tests: a real embedded PostgreSQL for the samplers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import psycopg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def obs_pg_url() -> Iterator[str]:
    """An embedded PostgreSQL 16 + pgvector (PyPI pgserver), deleted when the session ends.

    Its data dir lives outside pytest's basetemp: other pytest sessions on the same machine
    prune old basetemp directories, which would pull the data dir from under a running server.
    A fresh sub-directory, because pgserver (running postgres as its own user when we are
    root) sets the ownership of a data dir it creates itself.
    """
    import pgserver

    data_dir = Path(tempfile.mkdtemp(prefix="obs-pg-")) / "data"
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    server = pgserver.get_server(str(data_dir), cleanup_mode="delete")
    yield str(server.get_uri())
    server.cleanup()
    shutil.rmtree(data_dir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def sampled_db(obs_pg_url: str) -> str:
    """A database with what the samplers read: an HNSW index and a procrastinate queue."""
    with psycopg.connect(obs_pg_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS obs_samplers WITH (FORCE)")
        conn.execute("CREATE DATABASE obs_samplers")
    url = obs_pg_url.replace("@/postgres?", "@/obs_samplers?")
    schema = files("procrastinate").joinpath("sql/schema.sql").read_text()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE chunks (id bigserial PRIMARY KEY, embedding vector(3))")
        conn.execute(
            "INSERT INTO chunks (embedding) "
            "SELECT ARRAY[random(), random(), random()]::vector FROM generate_series(1, 200)"
        )
        conn.execute(
            "CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)"
        )
        conn.execute(schema)
        conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, status) "
            "VALUES ('ingest', 'ingest_document', 'todo'), ('ingest', 'ingest_document', 'todo')"
        )
        conn.execute(
            "INSERT INTO procrastinate_events (job_id, type, at) "
            "SELECT id, 'deferred', now() - interval '90 seconds' FROM procrastinate_jobs"
        )
    return url
