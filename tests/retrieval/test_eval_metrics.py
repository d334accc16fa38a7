"""The eval metrics on hand-computed cases."""

from __future__ import annotations

import math

import pytest

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
