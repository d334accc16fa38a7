"""Token-bounded chunks with overlap, cut at paragraph and sentence boundaries.

Sizes are counted in cl100k_base tokens (512 with 128 overlap by default). A chunk must also fit the
embedding model's own limit, counted with the model's tokenizer: all-MiniLM-L6-v2 reads at most
256 word pieces, less than 512 cl100k tokens of English. When the model's limit binds, chunks are
cut to fit it and the overlap keeps the configured ratio (128/512 -> 64 tokens). Nothing is ever
truncated by the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from service.embeddings.tokens import count_cl100k
from service.knowledge.extracted import Block, Extracted

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class ChunkingPolicy:
    chunk_tokens: int = 512
    overlap_tokens: int = 128
    # The embedding model's limit and counter (special tokens included); None = no model limit.
    model_max_tokens: int | None = None
    count_model_tokens: Callable[[str], int] | None = None

    @property
    def effective_overlap(self) -> int:
        if self.model_max_tokens is not None and self.model_max_tokens < self.chunk_tokens:
            return self.overlap_tokens * self.model_max_tokens // self.chunk_tokens
        return self.overlap_tokens


@dataclass(frozen=True)
class Chunk:
    index: int
    content: str
    token_count: int
    char_start: int
    char_end: int
    page_start: int | None
    page_end: int | None
    start_seconds: float | None
    end_seconds: float | None
    section: str | None


@dataclass(frozen=True)
class _Segment:
    start: int
    end: int
    tokens: int
    model_tokens: int
    block: Block


class Chunker:
    def __init__(self, policy: ChunkingPolicy) -> None:
        self.policy = policy
        counter = policy.count_model_tokens
        self._model_count = counter
        self._special = counter("") if counter else 0

    # --- segmentation ---

    def _model_tokens(self, text: str) -> int:
        return self._model_count(text) - self._special if self._model_count else 0

    def _fits_alone(self, tokens: int, model_tokens: int) -> bool:
        p = self.policy
        if tokens > p.chunk_tokens:
            return False
        return p.model_max_tokens is None or model_tokens + self._special <= p.model_max_tokens

    def _pieces(self, text: str, base: int) -> list[tuple[int, int]]:
        """Paragraphs, then sentences; (start, end) offsets relative to the joined text."""
        spans: list[tuple[int, int]] = []
        pos = 0
        for para in [*_PARAGRAPH.finditer(text), None]:
            end = para.start() if para else len(text)
            chunk = text[pos:end]
            sent_pos = 0
            for sent in [*_SENTENCE_END.finditer(chunk), None]:
                s_end = sent.end() if sent else len(chunk)
                if chunk[sent_pos:s_end].strip():
                    spans.append((base + pos + sent_pos, base + pos + s_end))
                sent_pos = s_end
            pos = para.end() if para else len(text)
        return spans

    def _segments(self, full: str, extracted: Extracted) -> list[_Segment]:
        out: list[_Segment] = []
        for block, offset in zip(extracted.blocks, extracted.offsets, strict=True):
            for start, end in self._pieces(block.text, offset):
                out.extend(self._split_to_fit(full, start, end, block))
        return out

    def _split_to_fit(self, full: str, start: int, end: int, block: Block) -> list[_Segment]:
        """A sentence longer than a chunk is split between words (never silently dropped)."""
        text = full[start:end]
        tokens, model_tokens = count_cl100k(text), self._model_tokens(text)
        if self._fits_alone(tokens, model_tokens):
            return [_Segment(start, end, tokens, model_tokens, block)]
        out: list[_Segment] = []
        piece_start = start
        cursor = start
        words = [(start + m.start(), start + m.end()) for m in _WORD.finditer(text)]
        if not words:
            return []
        for w_start, w_end in words:
            candidate = full[piece_start:w_end]
            if cursor > piece_start and not self._fits_alone(
                count_cl100k(candidate), self._model_tokens(candidate)
            ):
                piece = full[piece_start:cursor]
                out.append(
                    _Segment(
                        piece_start,
                        cursor,
                        count_cl100k(piece),
                        self._model_tokens(piece),
                        block,
                    )
                )
                piece_start = w_start
            cursor = w_end
        # A single "word" longer than a chunk (e.g. a run of symbols): cut by characters.
        tail = full[piece_start:cursor]
        while tail and not self._fits_alone(count_cl100k(tail), self._model_tokens(tail)):
            cut = max(1, len(tail) // 2)
            out.extend(self._split_to_fit(full, piece_start, piece_start + cut, block))
            piece_start += cut
            tail = full[piece_start:cursor]
        if tail.strip():
            out.append(
                _Segment(piece_start, cursor, count_cl100k(tail), self._model_tokens(tail), block)
            )
        return out

    # --- packing ---

    def _fits(self, content: str) -> bool:
        if count_cl100k(content) > self.policy.chunk_tokens:
            return False
        if self._model_count and self.policy.model_max_tokens is not None:
            return self._model_count(content) <= self.policy.model_max_tokens
        return True

    def chunk(self, extracted: Extracted) -> list[Chunk]:
        full = extracted.joined()
        segments = self._segments(full, extracted)
        p = self.policy
        overlap = p.effective_overlap
        chunks: list[Chunk] = []
        i = 0
        while i < len(segments):
            # Greedy by summed segment sizes, then confirmed on the exact chunk text.
            j = i
            tokens = segments[i].tokens
            model = segments[i].model_tokens
            while j + 1 < len(segments):
                nxt = segments[j + 1]
                if tokens + nxt.tokens > p.chunk_tokens:
                    break
                if p.model_max_tokens is not None and (
                    model + nxt.model_tokens + self._special > p.model_max_tokens
                ):
                    break
                j += 1
                tokens += nxt.tokens
                model += nxt.model_tokens
            while True:
                content = full[segments[i].start : segments[j].end]
                if self._fits(content) or j == i:
                    break
                j -= 1
            chunks.append(self._make(len(chunks), full, segments[i : j + 1]))
            if j + 1 >= len(segments):
                break
            # Next chunk starts far enough back to repeat up to `overlap` tokens of whole sentences.
            k = j + 1
            end = segments[j].end
            while k - 1 > i and (
                segments[k - 1].tokens <= overlap
                and count_cl100k(full[segments[k - 1].start : end]) <= overlap
            ):
                k -= 1
            i = k
        return chunks

    @staticmethod
    def _make(index: int, full: str, segs: list[_Segment]) -> Chunk:
        start, end = segs[0].start, segs[-1].end
        # Trim the whitespace a sentence split leaves at the end, keeping offsets exact.
        while end > start and full[end - 1].isspace():
            end -= 1
        pages = [s.block.page for s in segs if s.block.page is not None]
        starts = [s.block.start_seconds for s in segs if s.block.start_seconds is not None]
        ends = [s.block.end_seconds for s in segs if s.block.end_seconds is not None]
        sections = [s.block.section for s in segs if s.block.section]
        content = full[start:end]
        return Chunk(
            index=index,
            content=content,
            token_count=count_cl100k(content),
            char_start=start,
            char_end=end,
            page_start=min(pages) if pages else None,
            page_end=max(pages) if pages else None,
            start_seconds=min(starts) if starts else None,
            end_seconds=max(ends) if ends else None,
            section=sections[0] if sections else None,
        )
