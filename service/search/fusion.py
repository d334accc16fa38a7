"""Reciprocal Rank Fusion of the two legs' rankings: score = Σ 1 / (k + rank), ranks from 1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fused:
    id: int
    score: float
    vector_rank: int | None
    lexical_rank: int | None


def rrf(vector: Sequence[int], lexical: Sequence[int], k: int) -> list[Fused]:
    """Ties break on the better single rank, then vector-ranked first, then id: deterministic."""
    vranks = {cid: n for n, cid in enumerate(vector, start=1)}
    lranks = {cid: n for n, cid in enumerate(lexical, start=1)}
    fused = [
        Fused(
            cid,
            (1.0 / (k + vranks[cid]) if cid in vranks else 0.0)
            + (1.0 / (k + lranks[cid]) if cid in lranks else 0.0),
            vranks.get(cid),
            lranks.get(cid),
        )
        for cid in dict.fromkeys([*vector, *lexical])
    ]
    big = len(vranks) + len(lranks) + 1

    def key(f: Fused) -> tuple[float, int, bool, int]:
        best = min(f.vector_rank or big, f.lexical_rank or big)
        return (-f.score, best, f.vector_rank is None, f.id)

    return sorted(fused, key=key)
