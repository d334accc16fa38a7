"""Confidence from retrieval scores alone (documented in README "Asking questions (RAG)").

s1 = cosine similarity of the best source, s2 = of the second best:
- HIGH   when s1 >= 0.60 and s2 >= 0.50, or when s1 >= 0.50 and both rankers (vector and
         full-text) placed the best source in their top 3;
- MEDIUM when s1 >= 0.40;
- LOW    otherwise, and whenever there is no source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from service.search.hybrid import SearchHit

Confidence = Literal["HIGH", "MEDIUM", "LOW"]

HIGH_TOP = 0.60
HIGH_SECOND = 0.50
AGREEMENT_TOP = 0.50
MEDIUM_TOP = 0.40


def confidence(hits: Sequence[SearchHit]) -> Confidence:
    if not hits:
        return "LOW"
    sims = sorted((h.similarity for h in hits), reverse=True)
    s1 = sims[0]
    s2 = sims[1] if len(sims) > 1 else 0.0
    best = max(hits, key=lambda h: h.similarity)
    agreed = (best.vector_rank or 99) <= 3 and (best.fts_rank or 99) <= 3
    if (s1 >= HIGH_TOP and s2 >= HIGH_SECOND) or (s1 >= AGREEMENT_TOP and agreed):
        return "HIGH"
    if s1 >= MEDIUM_TOP:
        return "MEDIUM"
    return "LOW"
