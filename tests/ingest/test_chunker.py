"""Chunk sizes and overlaps, in cl100k tokens and at the embedding model's own limit."""

from __future__ import annotations

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
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.char_start < b.char_start, "every chunk moves forward"
        assert b.char_start <= a.char_end + 2, "no text skipped between chunks"
        assert count_cl100k(_overlap(a, b, text)) <= overlap + 2
    shared = [_overlap(a, b, text) for a, b in zip(chunks, chunks[1:], strict=False)]
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
