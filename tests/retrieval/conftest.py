"""Retrieval fixtures: the real local embedder (loaded once) and an API wired to it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from service.app import create_app
from service.container import Overrides
from service.search.query_embedding import QueryEmbedder, query_embedder
from tests.conftest import CORPUS_DIR, LiveServer, make_settings
from tests.factories import Accounts


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
def rag_api(
    db_url: str, tmp_path_factory: pytest.TempPathFactory, embedder: QueryEmbedder
) -> Iterator[LiveServer]:
    settings = make_settings(
        db_url,
        tmp_path_factory.mktemp("rag"),
        origin_shared_secret="edge-secret",
        corpus_dir=CORPUS_DIR,
        llm_provider="extractive",
    )
    with LiveServer(create_app(settings, Overrides(embedder=embedder))) as server:
        yield server


@pytest.fixture
def rag_client(rag_api: LiveServer, clean_db: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=rag_api.url, timeout=60) as c:
        yield c


@pytest.fixture
def rag_accounts(rag_client: httpx.Client, clean_db: str) -> Accounts:
    return Accounts(rag_client, clean_db)


@pytest.fixture
def db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        yield conn
