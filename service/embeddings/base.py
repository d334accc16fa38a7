"""The Embedder protocol every provider implements, and the errors they raise."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable


class EmbeddingError(Exception):
    """A provider failed for good (after its retries); `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EmbeddingConfigError(EmbeddingError):
    """The settings ask for a provider this install can't run (its optional extra is missing)."""


class InputTooLongError(EmbeddingError):
    """Raised instead of letting a model silently truncate an input past its own token limit."""


@runtime_checkable
class Embedder(Protocol):
    # Stored with every chunk; searches only compare vectors of the same model.
    model: str
    dimensions: int
    # The model's own input limit, counted by `count_tokens` (special tokens included).
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens this model would see for `text`, so chunkers can stay under `max_tokens`."""
        ...

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


def normalise(vector: Sequence[float]) -> list[float]:
    """Cosine search assumes unit vectors; HTTP providers don't all promise them."""
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0:
        return [float(x) for x in vector]
    return [float(x) / norm for x in vector]


def check_lengths(embedder: Embedder, texts: list[str]) -> None:
    for i, text in enumerate(texts):
        n = embedder.count_tokens(text)
        if n > embedder.max_tokens:
            raise InputTooLongError(
                "input_too_long",
                f"Text {i} has {n} tokens; {embedder.model} accepts at most {embedder.max_tokens}.",
            )


def batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]
