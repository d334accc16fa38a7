"""The Workers AI re-ranker over real HTTP against the wire-format fake: reorders, or keeps RRF."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from service.providers.cloudflare import WorkersAIAccount
from service.search.hybrid import SearchHit
from service.search.rerank import WorkersAIRerank
from tests.conftest import LiveServer
from tests.retrieval.llm_server import LLMServer

QUERY = "change the pedal after the harmony"
CONTENTS = [
    "Practise scales slowly.",
    "Change the pedal after the harmony, never before.",
    "The pedal blurs the harmony when held too long.",
]


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[LLMServer, str]]:
    server = LLMServer()
    with LiveServer(server.app) as live:
        yield server, live.url


def _hits() -> list[SearchHit]:
    return [
        SearchHit(
            chunk_id=i,
            document_id=uuid.uuid4(),
            title="Piano Playing",
            source_type="pdf",
            source_url=None,
            content=text,
            chunk_index=i,
            page_start=1,
            page_end=1,
            start_seconds=None,
            end_seconds=None,
            section=None,
            score=1.0 / (60 + i),
            similarity=0.5,
            vector_rank=i,
            fts_rank=i,
        )
        for i, text in enumerate(CONTENTS)
    ]


def _rerank(url: str, hits: list[SearchHit], top_k: int) -> list[SearchHit]:
    reranker = WorkersAIRerank(
        WorkersAIAccount(url, "acct", "tok"), "@cf/baai/bge-reranker-base", 5.0
    )

    async def run() -> list[SearchHit]:
        try:
            return await reranker.rerank(QUERY, hits, top_k)
        finally:
            await reranker.aclose()

    return asyncio.run(run())


def test_reranks_by_the_model_scores(llm: tuple[LLMServer, str]) -> None:
    server, url = llm
    server.mode = "ok"
    hits = _hits()
    out = _rerank(url, hits, top_k=2)
    assert [h.chunk_id for h in out] == [1, 2]
    assert [h.score for h in out] == pytest.approx([0.8, 0.6]) and out[0].extra[
        "rrf"
    ] == pytest.approx(1 / 61)
    sent = server.requests[-1]
    assert sent["path"] == "/accounts/acct/ai/run/@cf/baai/bge-reranker-base"
    assert sent["headers"]["authorization"] == "Bearer tok"
    assert sent["body"] == {"query": QUERY, "contexts": [{"text": t} for t in CONTENTS], "top_k": 2}


@pytest.mark.parametrize("mode", ["http_error", "rejected"])
def test_a_failed_call_keeps_the_rrf_order_without_retrying(
    llm: tuple[LLMServer, str], mode: str
) -> None:
    server, url = llm
    server.mode = mode
    before = len(server.requests)
    out = _rerank(url, _hits(), top_k=2)
    assert [h.chunk_id for h in out] == [0, 1]
    assert all("rrf" not in h.extra for h in out)
    assert len(server.requests) - before == 1
