"""Fixtures for the observability tests: a database shaped for the samplers."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import psycopg
import pytest

from devtools.postgres import create_scratch_database

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sampled_db(pg_server_url: str) -> str:
    """A database with what the samplers read: an HNSW index and a procrastinate queue."""
    url = create_scratch_database(pg_server_url, "obs_samplers", migrate=False)
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
