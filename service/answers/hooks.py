"""Telemetry hooks: the engine reports outcomes here; metrics are wired to them in one place."""

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
    # outcome (answered|no_sources|error), confidence or "", timings in ms by stage
    on_query: Callable[[str, str, dict[str, float]], None] = field(default=_noop)
