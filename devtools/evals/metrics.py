"""IR metrics over one query's ranked results (1-based ranks), averaged by the caller.

Gains are per retrieved item (0 = not relevant; graded qrels give 1, 2, ...). `ideal` is the
gains of every relevant item in the collection, used for recall and nDCG's normaliser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_SPACE = re.compile(r"\s+")
# Anything but letters and digits: the same sentence reaches chunks as plain text and as a PDF
# text layer, which differ in dashes ("--" vs "—"), quotes and italics markers (_word_).
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Case-, whitespace- and punctuation-insensitive form for matching evidence in chunk text."""
    return _SPACE.sub(" ", _NOT_WORD.sub(" ", text.lower())).strip()


def hit_at(gains: Sequence[float], k: int) -> float:
    """1 when any of the top k is relevant (recall@k for "find the evidence" query sets)."""
    return 1.0 if any(g > 0 for g in gains[:k]) else 0.0


def recall_at(gains: Sequence[float], relevant_total: int, k: int) -> float:
    """Share of the relevant items found in the top k (graded query sets)."""
    if relevant_total <= 0:
        return 0.0
    return min(1.0, sum(1 for g in gains[:k] if g > 0) / relevant_total)


def reciprocal_rank(gains: Sequence[float]) -> float:
    for i, g in enumerate(gains, start=1):
        if g > 0:
            return 1.0 / i
    return 0.0


def dcg(gains: Sequence[float], k: int) -> float:
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains[:k], start=1))


def ndcg_at(gains: Sequence[float], ideal: Sequence[float], k: int) -> float:
    best = dcg(sorted(ideal, reverse=True), k)
    return dcg(gains, k) / best if best > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
