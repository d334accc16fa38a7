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
# Words up to this length are kept whole; longer ones are cut into runs of this many characters
# unless they fit a chunk alone (a long URL does; a megabyte without spaces does not).
_LONG_WORD_CHARS = 64
# The longest cl100k token, in bytes: a chunk of n tokens holds at most n * 128 characters, so
# longer text is known not to fit without counting it.
_MAX_TOKEN_BYTES = 128
# Where the search for a piece's end starts before any piece has been cut.
_FIRST_HINT_ATOMS = 64


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
        self._max_chars = policy.chunk_tokens * _MAX_TOKEN_BYTES

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
        """A sentence longer than a chunk is split between words (never silently dropped).

        Each piece is the longest run of words that fits, found by galloping then bisecting
        with exact counts, so the work per piece is at most O(piece · log piece) and the whole
        split is linear in the sentence, however long it is and whatever it holds.
        """
        if end - start <= self._max_chars:
            text = full[start:end]
            tokens, model_tokens = count_cl100k(text), self._model_tokens(text)
            if self._fits_alone(tokens, model_tokens):
                return [_Segment(start, end, tokens, model_tokens, block)]
        atoms = self._atoms(full, start, end)
        out: list[_Segment] = []
        i, hint = 0, _FIRST_HINT_ATOMS
        while i < len(atoms):
            j = self._longest_fit(full, atoms, i, hint)
            if j < i:  # one atom alone is too long (dense symbols): halve it by characters
                a_start, a_end = atoms[i]
                cut = a_start + max(1, (a_end - a_start) // 2)
                atoms[i : i + 1] = [(a_start, cut), (cut, a_end)]
                continue
            s_start, s_end = atoms[i][0], atoms[j][1]
            piece = full[s_start:s_end]
            if piece.strip():
                out.append(
                    _Segment(s_start, s_end, count_cl100k(piece), self._model_tokens(piece), block)
                )
            i, hint = j + 1, j + 1 - i
        return out

    def _atoms(self, full: str, start: int, end: int) -> list[tuple[int, int]]:
        """Words with their trailing space; a word too long to ever fit is cut into runs of
        characters first, so no single count ever sees an unbounded string."""
        atoms: list[tuple[int, int]] = []
        for m in _WORD.finditer(full, start, end):
            w_start, w_end = m.span()
            if w_end - w_start <= _LONG_WORD_CHARS:
                atoms.append((w_start, w_end))
                continue
            word = full[w_start:w_end]
            if w_end - w_start <= self._max_chars and self._fits_alone(
                count_cl100k(word), self._model_tokens(word)
            ):
                atoms.append((w_start, w_end))
                continue
            atoms.extend(
                (a, min(a + _LONG_WORD_CHARS, w_end))
                for a in range(w_start, w_end, _LONG_WORD_CHARS)
            )
        return atoms

    def _piece_fits(self, full: str, atoms: list[tuple[int, int]], i: int, j: int) -> bool:
        if atoms[j][1] - atoms[i][0] > self._max_chars:
            return False
        return self._fits(full[atoms[i][0] : atoms[j][1]])

    def _longest_fit(self, full: str, atoms: list[tuple[int, int]], i: int, hint: int) -> int:
        """The last atom j such that atoms i..j fit in one chunk (i - 1 if atom i alone does not).

        Token counts grow with the text, so this is the boundary that adding words one at a time
        would find. It starts at `hint` atoms (the previous piece's length), gallops away from it
        and bisects, so a piece costs a few counts when pieces are alike and O(log n) at worst.
        """
        last = len(atoms) - 1
        probe = min(i + max(hint, 1) - 1, last)
        if self._piece_fits(full, atoms, i, probe):
            good, step = probe, 1
            while good < last:  # gallop up to the first span that no longer fits
                probe = min(good + step, last)
                if not self._piece_fits(full, atoms, i, probe):
                    bad = probe
                    break
                good, step = probe, step * 2
            else:
                return good
        else:
            bad, step = probe, 1
            while True:  # gallop down to a span that fits
                probe = max(bad - step, i)
                if self._piece_fits(full, atoms, i, probe):
                    good = probe
                    break
                if probe == i:
                    return i - 1
                bad, step = probe, step * 2
        while bad - good > 1:  # bisect between the last fit and the first miss
            mid = (good + bad) // 2
            if self._piece_fits(full, atoms, i, mid):
                good = mid
            else:
                bad = mid
        return good

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
