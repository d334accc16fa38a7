"""The offline answer: verbatim sentences from the retrieved passages, quoted and cited.

Nothing is generated: the only text not copied from a source is the fixed framing below.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence

from service.search.hybrid import SearchHit

HEADER = "Extractive answer (quoted from your sources; no language model was used):"
NO_SOURCES = "Extractive answer: no passage in the sources you can access matches this question."
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9(])")
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(
    "a an and are as at be by can do does for from how i in is it my of on or should that the "
    "this to was what when which who why will with you your".split()
)


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def best_sentences(query: str, text: str, limit: int = 2) -> list[str]:
    """The sentences sharing most terms with the query, in their original order."""
    sentences = [s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()]
    if not sentences:
        return []
    q = _terms(query)
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (-len(q & _terms(sentences[i])), i),
    )
    chosen = sorted(scored[:limit])
    return [sentences[i][:600] for i in chosen]


def extractive_answer(query: str, hits: Sequence[SearchHit], max_sources: int = 3) -> str:
    if not hits:
        return NO_SOURCES
    parts = [HEADER, ""]
    for n, hit in enumerate(hits[:max_sources], start=1):
        quote = " … ".join(best_sentences(query, hit.content))
        if quote:
            parts.append(f'- "{quote}" [{n}]')
    return "\n".join(parts)


class ExtractiveProvider:
    """Same streaming interface as the LLM providers, so the pipeline treats it uniformly."""

    name = "extractive"

    def __init__(self, query: str, hits: Sequence[SearchHit]) -> None:
        self._text = extractive_answer(query, hits)

    async def stream(self, system: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        # Line by line, so clients see the same incremental shape as with a model.
        for line in self._text.splitlines(keepends=True):
            yield line
