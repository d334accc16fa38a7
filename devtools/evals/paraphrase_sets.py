"""Query sets whose wording differs from the books': Cooke's study questions and student questions.

Both are built from hand annotations in `queries/annotations/`:

- `cooke.tsv`: `<study question id> TAB <fragment> [|| <fragment> ...]`. The question text comes
  from the corpus' `study_questions.jsonl`; each fragment was copied from the sentence(s) in the
  question's chapter that answer it.
- `student.tsv`: `<id> TAB <book> TAB <question> TAB <fragment> [|| ...]`, questions written in a
  student's words for a passage of one of the four books.

Each fragment is located in its book (it must occur exactly once, within one paragraph) and
widened to the whole sentence around it, which becomes an evidence sentence. A retrieved chunk
is relevant when it contains one of them, so relevance does not depend on how the books are
chunked. Each set is split once, with a fixed seed, into a dev part (for tuning) and a held-out
test part (for reporting only): Cooke by whole chapters, so no held-out question shares a chapter
with a dev question; student questions one by one, within each book.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANNOTATIONS = Path(__file__).parent / "queries" / "annotations"
BOOKS = {
    "hofmann": "hofmann-piano-playing/hofmann_piano_playing.utf8.txt",
    "brower": "brower-piano-mastery/brower_piano_mastery.utf8.txt",
    "cooke": "cooke-great-pianists/cooke_great_pianists.utf8.txt",
    "hullah": "hullah-leschetizky/43915-0.txt",
}
COOKE_QUESTIONS = "cooke-great-pianists/study_questions.jsonl"
SEED = 14
# Share of each set kept for tuning; the rest is held out.
DEV_SHARE = 0.4

_PARAGRAPH = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s+")
# The chunker's sentence boundary: ., ! or ? (and closing quotes/brackets), then whitespace.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


class AnnotationError(ValueError):
    pass


@dataclass
class Book:
    """One book's paragraphs, each with its whitespace collapsed to single spaces."""

    name: str
    paragraphs: list[str]

    @classmethod
    def load(cls, corpus: Path, name: str) -> Book:
        text = (corpus / BOOKS[name]).read_text(encoding="utf-8").replace("\r\n", "\n")
        return cls(name, [_SPACE.sub(" ", p).strip() for p in _PARAGRAPH.split(text)])

    def sentence(self, fragment: str) -> str:
        """The whole sentence containing `fragment`, which must occur exactly once in the book."""
        fragment = _SPACE.sub(" ", fragment).strip()
        hits = [(p, i) for p in self.paragraphs for i in _find_all(p, fragment)]
        if len(hits) != 1:
            raise AnnotationError(f"{self.name}: {len(hits)} matches for {fragment!r}")
        para, start = hits[0]
        end = start + len(fragment)
        begin = 0
        for m in _SENTENCE_END.finditer(para):
            if m.end() <= start:
                begin = m.end()
            elif m.start() >= end - 1:
                return para[begin : m.start() + 1].strip()
        return para[begin:].strip()


def _find_all(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i >= 0:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def _fragments(cell: str) -> list[str]:
    return [f.strip() for f in cell.split("||") if f.strip()]


def _rows(path: Path) -> list[list[str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            cells = line.split("\t")
            if any(not c.strip() for c in cells):
                raise AnnotationError(f"{path.name}:{n}: empty cell")
            rows.append(cells)
    return rows


def cooke(corpus: Path) -> list[dict[str, Any]]:
    book = Book.load(corpus, "cooke")
    questions = {
        q["id"]: q
        for q in (
            json.loads(line)
            for line in (corpus / COOKE_QUESTIONS).read_text(encoding="utf-8").splitlines()
        )
    }
    out = []
    for qid, cell in _rows(ANNOTATIONS / "cooke.tsv"):
        q = questions[qid]
        out.append(
            {
                "id": qid,
                "query": q["question"],
                "evidence": [book.sentence(f) for f in _fragments(cell)],
                "book": "cooke",
                "group": f"series {q['series']}",
            }
        )
    return out


def student(corpus: Path) -> list[dict[str, Any]]:
    books = {name: Book.load(corpus, name) for name in BOOKS}
    out = []
    for qid, name, question, cell in _rows(ANNOTATIONS / "student.tsv"):
        out.append(
            {
                "id": qid,
                "query": question,
                "evidence": [books[name].sentence(f) for f in _fragments(cell)],
                "book": name,
                "group": name,
            }
        )
    return out


def split(rows: list[dict[str, Any]], by_group: bool) -> tuple[list[dict], list[dict]]:
    """(dev, test). by_group: whole groups go to one side; else each group is split itself."""
    rng = random.Random(SEED)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    dev_ids: set[str] = set()
    if by_group:
        names = sorted(groups)
        rng.shuffle(names)
        for name in names[: round(len(names) * DEV_SHARE)]:
            dev_ids.update(r["id"] for r in groups[name])
    else:
        for name in sorted(groups):
            ids = [r["id"] for r in groups[name]]
            rng.shuffle(ids)
            dev_ids.update(ids[: round(len(ids) * DEV_SHARE)])
    dev = [r for r in rows if r["id"] in dev_ids]
    test = [r for r in rows if r["id"] not in dev_ids]
    return dev, test


_STOP = frozenset(
    "a an the and or but of to in on at for with by from as is are was were be been being do "
    "does did doing have has had having i me my we our you your he him his she her it its they "
    "them their this that these those what which who whom how why when where whether should "
    "would could can may might must will shall not no so if than then there here about into "
    "any some all one more most much very just also only such own same too up out over under "
    "again get gets got make makes made way".split()
)
_WORD = re.compile(r"[a-z]+")


def _stems(text: str) -> set[str]:
    # A crude stemmer is enough to compare wording: it only has to equate "practise/practising".
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def word_overlap(query: str, evidence: list[str]) -> float:
    """Share of the question's content words (5-letter stems) that occur in its evidence."""
    q = _stems(query)
    if not q:
        return 0.0
    e: set[str] = set().union(*(_stems(s) for s in evidence))
    return len(q & e) / len(q)
