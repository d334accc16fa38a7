"""The eval metrics on hand-computed cases, and the 100k study's synthetic owners."""

from __future__ import annotations

import math

import numpy as np
import pytest

from devtools.evals.ann import DOCUMENT_CHUNKS, GROUPS, document_labels
from devtools.evals.metrics import (
    hit_at,
    ndcg_at,
    normalise,
    percentile,
    recall_at,
    reciprocal_rank,
)


def test_binary_case() -> None:
    gains = [0, 0, 1, 0, 1]
    assert hit_at(gains, 1) == 0 and hit_at(gains, 3) == 1
    assert reciprocal_rank(gains) == pytest.approx(1 / 3)
    assert reciprocal_rank([0, 0]) == 0
    # DCG = 1/log2(4) + 1/log2(6) = 0.5 + 0.386853; IDCG (2 relevant) = 1 + 1/log2(3) = 1.630930
    assert ndcg_at(gains, [1, 1], 10) == pytest.approx(
        (0.5 + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    )
    assert recall_at(gains, 4, 5) == 0.5 and recall_at(gains, 4, 2) == 0


def test_graded_case() -> None:
    # Retrieved gains 2,0,1; all relevant in the collection: 2,2,1.
    # DCG = 2 + 0 + 1/2 = 2.5; IDCG = 2 + 2/log2(3) + 1/2 = 3.761859
    assert ndcg_at([2, 0, 1], [2, 1, 2], 10) == pytest.approx(2.5 / (2.5 + 2 / math.log2(3)))
    assert ndcg_at([2, 0, 1], [2, 1, 2], 10) == pytest.approx(0.664564, abs=1e-6)
    assert recall_at([2, 0, 1], 3, 10) == pytest.approx(2 / 3)


def test_normalise_and_percentile() -> None:
    assert normalise("  Slow\n\tPRACTICE  is   key ") == "slow practice is key"
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([5, 1, 4, 2, 3], 95) == 5
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([], 50) == 0


@pytest.mark.parametrize("rows", [5_000, 100_000])
def test_synthetic_owners_come_in_documents_with_their_shares(rows: int) -> None:
    """The 100k study's owners: each group keeps its share of the rows (within one document's
    size), and rows are owned in runs of a document's chunks, never scattered one by one."""
    labels = document_labels(rows)
    counts = np.bincount(labels, minlength=len(GROUPS))
    for share, count in zip(GROUPS.values(), counts, strict=True):
        assert abs(count - share * rows) <= DOCUMENT_CHUNKS[1], (share, count)
    runs = np.split(labels, np.flatnonzero(np.diff(labels)) + 1)
    assert min(len(r) for r in runs[:-1]) >= DOCUMENT_CHUNKS[0]
