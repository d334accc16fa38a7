"""Ingestion fixtures: the local model (loaded once per test worker) and a fake Workers AI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.core.config import Settings
from service.embeddings import Embedder, get_embedder
from service.embeddings.local import LocalEmbedder
from tests.ingest.fake_workers_ai import FakeWorkersAI


@pytest.fixture(scope="session")
def local_embedder(settings: Settings) -> Embedder:
    embedder = get_embedder(settings)
    assert isinstance(embedder, LocalEmbedder)
    embedder.load()
    return embedder


@pytest.fixture
def fake_ai() -> Iterator[FakeWorkersAI]:
    fake = FakeWorkersAI()
    yield fake
    fake.close()
