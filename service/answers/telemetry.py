"""The engine's hooks wired to the service metrics (service/observability/metrics.py)."""

from __future__ import annotations

from service.answers.hooks import RagHooks
from service.observability import metrics

_STAGES = {"embed", "search", "rerank", "llm_ttft", "total"}


def _llm(provider: str, outcome: str) -> None:
    metrics.LLM_REQUESTS.labels(provider=provider, outcome=outcome).inc()


def _fallback(provider: str, reason: str) -> None:
    metrics.LLM_FALLBACKS.labels(provider=provider, reason=reason).inc()


def _query(outcome: str, confidence: str, timings_ms: dict[str, float]) -> None:
    metrics.RAG_QUERIES.labels(outcome=outcome).inc()
    if outcome == "no_context":
        metrics.RAG_ANSWER_CONFIDENCE.labels(level="none").inc()
    elif confidence:
        metrics.RAG_ANSWER_CONFIDENCE.labels(level=confidence.lower()).inc()
    for stage, ms in timings_ms.items():
        if stage in _STAGES:
            metrics.RAG_QUERY_DURATION.labels(stage=stage).observe(ms / 1000)


def _search(vector_seconds: float, lexical_seconds: float) -> None:
    metrics.VECTOR_SEARCH_DURATION.observe(vector_seconds)
    metrics.FTS_SEARCH_DURATION.observe(lexical_seconds)


def _recall(leg: str, found: int, expected: int) -> None:
    metrics.SEARCH_RECALL_FOUND.labels(leg=leg).inc(found)
    metrics.SEARCH_RECALL_EXPECTED.labels(leg=leg).inc(expected)


def _shed(reason: str) -> None:
    metrics.RAG_SHED.labels(reason=reason).inc()


def metric_hooks() -> RagHooks:
    return RagHooks(
        on_cache=metrics.record_cache,
        on_llm=_llm,
        on_fallback=_fallback,
        on_query=_query,
        on_search=_search,
        on_recall=_recall,
        on_shed=_shed,
    )
