"""Choosing how to run the vector leg for a caller's scope, so filtered recall stays high.

An HNSW scan filtered to a scope holding a share f of the chunks finds only about f * ef_search
rows in scope. Per scope:
- everything (admins): plain HNSW at ef_search;
- small scopes (few rows, or a small share): exact search over the scope (the owner/public
  indexes find its rows, then a sort by distance), which is exact and cheap while the scope is
  small; the lexical leg then scores the whole scope too (service/search/lexical.py);
- otherwise, on pgvector >= 0.8: an iterative index scan in relaxed order, which keeps scanning
  the graph until enough rows pass the filter, then a re-sort of what it found;
- on pgvector < 0.8 (no iterative scans): ef_search widened to candidates * margin / f while that
  stays under the maximum, else exact.

The thresholds come from `make eval` (loadtest/results/retrieval-eval.md): exact search costs
grow with the scope's rows, an iterative scan's with 1 / f.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from service.core.config import SearchSettings

PlanKind = Literal["hnsw", "iterative", "exact"]

# HNSW is approximate even unfiltered; asking for twice the rows the filter must leave keeps
# recall@10 >= 0.99 in the eval sweep (pgvector < 0.8 only).
WIDEN_MARGIN = 2.0
# pgvector's default: how many tuples an iterative scan may visit before it gives up.
MAX_SCAN_TUPLES = 20000


@dataclass(frozen=True)
class VectorPlan:
    kind: PlanKind
    ef_search: int
    scope_rows: int = 0
    total_rows: int = 0
    max_scan_tuples: int = MAX_SCAN_TUPLES

    @property
    def iterative_scan(self) -> bool:
        return self.kind == "iterative"

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "ef_search": self.ef_search,
            "iterative_scan": self.iterative_scan,
            "scope_rows": self.scope_rows,
            "total_rows": self.total_rows,
        }


def choose_plan(
    *,
    scope_rows: int,
    total_rows: int,
    candidates: int,
    ef_search: int,
    ef_search_max: int,
    exact_fraction: float,
    exact_rows: int,
    iterative_available: bool,
) -> VectorPlan:
    base_ef = max(ef_search, candidates)
    if total_rows == 0 or scope_rows >= total_rows:
        return VectorPlan("hnsw", base_ef, scope_rows, total_rows)
    fraction = scope_rows / total_rows
    if scope_rows <= exact_rows or fraction < exact_fraction:
        return VectorPlan("exact", base_ef, scope_rows, total_rows)
    if iterative_available:
        return VectorPlan("iterative", base_ef, scope_rows, total_rows)
    widened = math.ceil(candidates * WIDEN_MARGIN / fraction)
    if widened > ef_search_max:
        return VectorPlan("exact", base_ef, scope_rows, total_rows)
    return VectorPlan("hnsw", max(base_ef, widened), scope_rows, total_rows)


def configured_plan(
    search: SearchSettings, *, scope_rows: int, total_rows: int, iterative_available: bool
) -> VectorPlan:
    """`choose_plan` with the service's search settings: the plan the API runs for a scope."""
    return choose_plan(
        scope_rows=scope_rows,
        total_rows=total_rows,
        candidates=search.vector_candidates,
        ef_search=search.ef_search,
        ef_search_max=search.ef_search_max,
        exact_fraction=search.exact_scope_fraction,
        exact_rows=search.exact_scope_rows,
        iterative_available=iterative_available,
    )
