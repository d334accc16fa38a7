"""Telemetry hooks: the engine reports outcomes here; metrics are wired to them in one place.

service/answers/telemetry.py maps them onto the Prometheus metrics.
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
    # seconds spent in the vector leg and in the lexical leg of one hybrid search
    on_search: Callable[[float, float], None] = field(default=_noop)
    # live recall: leg (vector|lexical), results also in the exact top 10, size of that top 10
    on_recall: Callable[[str, int, int], None] = field(default=_noop)
    # a cold question shed by admission, and why (queue_full|wait_estimate|wait_timeout)
    on_shed: Callable[[str], None] = field(default=_noop)
