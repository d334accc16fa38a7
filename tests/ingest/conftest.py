"""Ingestion fixtures: the local model (loaded once per test worker) and a fake Workers AI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.core.config import Settings
from service.embeddings import Embedder, get_embedder
from service.embeddings.instrumented import InstrumentedEmbedder
from service.embeddings.local_onnx import OnnxLocalEmbedder
from tests.conftest import CORPUS_DIR
from tests.ingest.fake_workers_ai import FakeWorkersAI
from tests.workers import StartWorker, WorkerProcesses


@pytest.fixture(scope="session")
def local_embedder(settings: Settings) -> Embedder:
    embedder = get_embedder(settings)
    assert isinstance(embedder, InstrumentedEmbedder)
    assert isinstance(embedder.inner, OnnxLocalEmbedder), "the default local model"
    embedder.warm_up()
    return embedder


@pytest.fixture
def fake_ai() -> Iterator[FakeWorkersAI]:
    fake = FakeWorkersAI()
    yield fake
    fake.close()


@pytest.fixture
def start_worker(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI, tmp_path: Path
) -> Iterator[StartWorker]:
    """Real worker processes on the test database, embedding via the fake."""
    workers = WorkerProcesses(
        {
            **fake_ai.env(),
            "DATABASE_URL": clean_db,
            "CORPUS_DIR": str(CORPUS_DIR),
            "S3_ENDPOINT_URL": settings.storage.endpoint_url,
            "EMBEDDING_BATCH_SIZE": "5",
            "CHUNK_INSERT_BATCH": "5",
            "WORKER_HEARTBEAT_SECONDS": "0.5",
            "WORKER_STALLED_AFTER_SECONDS": "2",
            "WORKER_STALLED_CHECK_SECONDS": "0.5",
        },
        tmp_path,
        stop_seconds=10,
    )
    yield workers.start
    workers.stop_all()
