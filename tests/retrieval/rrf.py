"""Reciprocal Rank Fusion (Cormack et al. 2009): score(d) = sum over rankings of 1 / (k + rank)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_K = 60


def fuse(rankings: Sequence[Sequence[K]], k: int = DEFAULT_K) -> list[tuple[K, float]]:
    """Reference implementation (the SQL in hybrid.py does the same); ranks are 1-based.

    Ties break on the best single rank, then on first appearance, so the order is deterministic.
    """
    scores: dict[K, float] = {}
    best: dict[K, int] = {}
    order: dict[K, int] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            best[item] = min(best.get(item, rank), rank)
            order.setdefault(item, len(order))
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], order[kv[0]]))
