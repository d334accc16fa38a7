"""Telemetry hooks: the engine reports outcomes here; metrics are wired to them in one place.

Wiring (service/observability/metrics.py), e.g. in answers/runtime.get_engine:
    RagHooks(
        on_cache=lambda layer, result: CACHE_REQUESTS.labels(layer, result).inc(),
        on_llm=lambda provider, outcome: LLM_REQUESTS.labels(provider, outcome).inc(),
        on_fallback=lambda provider, reason: LLM_FALLBACKS.labels(provider, reason).inc(),
        on_query=record_query,  # RAG_QUERIES[outcome], RAG_ANSWER_CONFIDENCE[level],
    )                           # RAG_QUERY_DURATION[stage] from timings_ms / 1000
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


def _noop(*_: object) -> None:
    return None


@dataclass
class RagHooks:
    on_cache: Callable[[str, str], None] = field(default=_noop)  # layer, hit|miss|error
    on_llm: Callable[[str, str], None] = field(default=_noop)  # provider, ok|error|timeout
    on_fallback: Callable[[str, str], None] = field(default=_noop)  # provider, reason
    # outcome (ok|no_context|error|cancelled), confidence or "", timings in ms by stage
    on_query: Callable[[str, str, dict[str, float]], None] = field(default=_noop)
