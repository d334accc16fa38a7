"""Retrieval fixtures: the real local embedder (loaded once) and an API answering with it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from service.search.query_embedding import QueryEmbedder, query_embedder
from tests.conftest import CORPUS_DIR, Api, ApiSettings, StartApi


class SyncEmbedder:
    def __init__(self, inner: QueryEmbedder) -> None:
        self.inner = inner

    def __call__(self, texts: list[str]) -> list[list[float]]:
        return asyncio.run(self.inner.embed(texts))


@pytest.fixture(scope="session")
def embedder(settings: object) -> QueryEmbedder:
    return query_embedder(settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def embed(embedder: QueryEmbedder) -> SyncEmbedder:
    return SyncEmbedder(embedder)


@pytest.fixture(scope="session")
def live_api(start_api: StartApi, api_settings: ApiSettings, embedder: QueryEmbedder) -> Api:
    settings = api_settings(
        origin_shared_secret="edge-secret", corpus_dir=CORPUS_DIR, llm_provider="extractive"
    )
    return start_api(settings, embedder=embedder)


@pytest.fixture
def db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        yield conn
