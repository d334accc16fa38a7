"""Ingestion fixtures: the local model (loaded once per test worker) and a fake Workers AI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from service.core.config import Settings
from service.embeddings import Embedder, get_embedder
from service.embeddings.instrumented import InstrumentedEmbedder
from service.embeddings.local_onnx import OnnxLocalEmbedder
from tests.conftest import CORPUS_DIR, REPO_ROOT
from tests.ingest.fake_workers_ai import FakeWorkersAI


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


class StartWorker(Protocol):
    def __call__(self, name: str, **extra_env: str) -> subprocess.Popen[bytes]: ...


@pytest.fixture
def start_worker(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI, tmp_path: Path
) -> Iterator[StartWorker]:
    """Real `python -m service.worker` processes on the test database, embedding via the fake."""
    procs: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        **fake_ai.env(),
        "DATABASE_URL": clean_db,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "CORPUS_DIR": str(CORPUS_DIR),
        "S3_ENDPOINT_URL": settings.storage.endpoint_url,
        "EMBEDDING_BATCH_SIZE": "5",
        "CHUNK_INSERT_BATCH": "5",
        "WORKER_HEARTBEAT_SECONDS": "0.5",
        "WORKER_STALLED_AFTER_SECONDS": "2",
        "WORKER_STALLED_CHECK_SECONDS": "0.5",
    }

    def start(name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.worker"],
            env={**env, **extra_env},
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
