"""Chunk sizes and overlaps, in cl100k tokens and at the embedding model's own limit."""

from __future__ import annotations

import hashlib
import itertools
import json
import random

import pytest

from service.embeddings.tokens import count_cl100k, count_wordpiece
from service.knowledge.chunker import Chunk, Chunker, ChunkingPolicy
from service.knowledge.extracted import Block, Extracted
from service.knowledge.text import extract_text
from tests.conftest import CORPUS_DIR

BOOK = CORPUS_DIR / "hullah-leschetizky" / "43915-0.txt"


def _overlap(a: Chunk, b: Chunk, text: str) -> str:
    return text[b.char_start : a.char_end] if b.char_start < a.char_end else ""


def _check(chunks: list[Chunk], text: str, size: int, overlap: int) -> None:
    assert len(chunks) > 3
    for c in chunks:
        assert c.content == text[c.char_start : c.char_end]
        assert c.token_count == count_cl100k(c.content) <= size
    for a, b in itertools.pairwise(chunks):
        assert a.char_start < b.char_start, "every chunk moves forward"
        assert b.char_start <= a.char_end + 2, "no text skipped between chunks"
        assert count_cl100k(_overlap(a, b, text)) <= overlap + 2
    shared = [_overlap(a, b, text) for a, b in itertools.pairwise(chunks)]
    assert sum(1 for s in shared if s.strip()) > len(shared) // 2, "most chunks overlap"


def test_512_tokens_with_128_overlap_without_a_model_limit() -> None:
    extracted = extract_text(BOOK.read_bytes())
    chunks = Chunker(ChunkingPolicy(512, 128)).chunk(extracted)
    text = extracted.joined()
    _check(chunks, text, 512, 128)
    # Chunks are packed close to the budget, cut at sentence ends.
    sizes = sorted(c.token_count for c in chunks)
    assert sizes[len(sizes) // 2] > 400
    assert sum(c.content.rstrip().endswith((".", "?", "!", '"', ")")) for c in chunks) > 0.8 * len(
        chunks
    )


def test_chunks_fit_the_model_limit_with_scaled_overlap() -> None:
    extracted = extract_text(BOOK.read_bytes())
    policy = ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=count_wordpiece)
    assert policy.effective_overlap == 64
    chunks = Chunker(policy).chunk(extracted)
    text = extracted.joined()
    _check(chunks, text, 512, 64)
    model_sizes = [count_wordpiece(c.content) for c in chunks]
    assert max(model_sizes) <= 256
    assert sorted(model_sizes)[len(model_sizes) // 2] > 200, "chunks use most of the model's room"


def test_a_sentence_longer_than_the_limit_is_split_not_truncated() -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    extracted = Extracted(blocks=[Block(words, page=1)])
    policy = ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=count_wordpiece)
    chunks = Chunker(policy).chunk(extracted)
    assert all(count_wordpiece(c.content) <= 256 for c in chunks)
    covered = " ".join(c.content for c in chunks)
    for i in (0, 1234, 2999):
        assert f"word{i}" in covered
    assert all(c.page_start == c.page_end == 1 for c in chunks)


@pytest.mark.parametrize("limit", [64, 128])
def test_tiny_model_limits_still_cover_everything(limit: int) -> None:
    block = "Play slowly. " * 200
    policy = ChunkingPolicy(512, 128, model_max_tokens=limit, count_model_tokens=count_wordpiece)
    chunks = Chunker(policy).chunk(Extracted(blocks=[Block(block)]))
    assert all(count_wordpiece(c.content) <= limit for c in chunks)
    assert chunks[-1].char_end == len(block.rstrip())


def test_gutenberg_boilerplate_is_stripped_and_sections_found() -> None:
    extracted = extract_text(BOOK.read_bytes())
    text = extracted.joined()
    assert "Project Gutenberg License" not in text
    assert "START OF" not in text
    sections = {b.section for b in extracted.blocks if b.section}
    assert any(s.startswith("CHAPTER V") for s in sections)


# --- boundaries kept, and linear work on any input ---------------------------------------------

# Chunk boundaries (start, end, pages, section, tokens) the previous word-by-word chunker cut on
# the corpus books, as (chunks, sha256 prefix). The bounded search must cut exactly the same.
_BOOKS = {
    "leschetizky": "hullah-leschetizky/43915-0.txt",
    "brower": "brower-piano-mastery/brower_piano_mastery.utf8.txt",
    "cooke": "cooke-great-pianists/cooke_great_pianists.utf8.txt",
    "hofmann": "hofmann-piano-playing/hofmann_piano_playing.utf8.txt",
}
_PREVIOUS_BOUNDARIES = {
    ("leschetizky", "plain"): (59, "3f5fff875416e9e1"),
    ("leschetizky", "minilm"): (107, "47093688c1657fd9"),
    ("brower", "plain"): (208, "b8973b4b5a684676"),
    ("brower", "minilm"): (372, "554856011e277ea2"),
    ("cooke", "plain"): (233, "4c6570936dc156d1"),
    ("cooke", "minilm"): (408, "b43a22f7573df0f0"),
    ("hofmann", "plain"): (202, "a1dc18a06bf86b32"),
    ("hofmann", "minilm"): (359, "ed555bb411e1cbf0"),
}
_POLICIES = {
    "plain": ChunkingPolicy(512, 128),
    "minilm": ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=count_wordpiece),
}


@pytest.mark.parametrize(("book", "policy"), sorted(_PREVIOUS_BOUNDARIES))
def test_normal_text_keeps_the_previous_boundaries(book: str, policy: str) -> None:
    extracted = extract_text((CORPUS_DIR / _BOOKS[book]).read_bytes())
    chunks = Chunker(_POLICIES[policy]).chunk(extracted)
    spans = [
        (c.char_start, c.char_end, c.page_start, c.page_end, c.section, c.token_count)
        for c in chunks
    ]
    digest = hashlib.sha256(json.dumps(spans).encode()).hexdigest()[:16]
    assert (len(chunks), digest) == _PREVIOUS_BOUNDARIES[(book, policy)]


def _pathological(shape: str, size: int) -> str:
    rng = random.Random(7)
    if shape == "no_punctuation":  # the 5 MB teacher upload: words, no sentence ends, no breaks
        words = ["legato", "finger", "wrist", "slowly", "scale", "arpeggio", "tone", "pedal"]
        return " ".join(rng.choice(words) for _ in range(size // 6))[:size]
    if shape == "no_spaces":
        return "a" * size
    if shape == "tiny_sentences":
        return "a. " * (size // 3)
    if shape == "long_words":  # words that don't fit a chunk alone, inside one sentence
        return " ".join(["play", "x" * 20_000, "slowly"] * (size // 20_012))
    return "音楽の練習" * (size // 5)  # CJK: several tokens per character, no spaces


_SHAPES = ["no_punctuation", "no_spaces", "tiny_sentences", "long_words", "cjk"]


class _CountingTokenizers:
    """Wraps both token counters and adds up the characters they are asked to read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.chars = 0
        monkeypatch.setattr("service.knowledge.chunker.count_cl100k", self._cl100k)

    def _cl100k(self, text: str) -> int:
        self.chars += len(text)
        return count_cl100k(text)

    def wordpiece(self, text: str) -> int:
        self.chars += len(text)
        return count_wordpiece(text)

    def chunk(self, text: str, model_limit: bool) -> list[Chunk]:
        policy = (
            ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=self.wordpiece)
            if model_limit
            else ChunkingPolicy(512, 128)
        )
        self.chars = 0
        return Chunker(policy).chunk(Extracted(blocks=[Block(text, page=1)]))


@pytest.mark.parametrize("model_limit", [False, True], ids=["cl100k", "minilm"])
@pytest.mark.parametrize("shape", _SHAPES)
def test_pathological_input_costs_linear_work(
    monkeypatch: pytest.MonkeyPatch, shape: str, model_limit: bool
) -> None:
    """The work is the characters the tokenizers read: a bounded multiple of the input, the same
    multiple at 4x the size. The previous chunker re-counted the growing piece for every word
    (about 190 characters read per input character on unpunctuated text) and re-counted the
    whole tail while halving a long run of letters (a ratio that grew with the size)."""
    counting = _CountingTokenizers(monkeypatch)
    ratios = []
    for size in (50_000, 200_000):
        text = _pathological(shape, size)
        chunks = counting.chunk(text, model_limit)
        ratios.append(counting.chars / len(text))
        assert chunks
    assert ratios[0] <= 30 and ratios[1] <= 30, ratios
    assert ratios[1] <= ratios[0] * 1.1, f"work grows faster than the input: {ratios}"


@pytest.mark.parametrize("shape", _SHAPES)
def test_pathological_chunks_fit_the_limits_and_cover_the_text(shape: str) -> None:
    text = _pathological(shape, 60_000)
    policy = ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=count_wordpiece)
    chunks = Chunker(policy).chunk(Extracted(blocks=[Block(text, page=1)]))
    for c in chunks:
        assert c.content == text[c.char_start : c.char_end]
        assert c.token_count <= 512 and count_wordpiece(c.content) <= 256
    for a, b in itertools.pairwise(chunks):
        assert a.char_start < b.char_start and b.char_start <= a.char_end + 1
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text.rstrip())
