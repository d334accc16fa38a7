"""The shipped query sets: evidence really is in the books, splits are disjoint and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.evals import paraphrase_sets
from devtools.evals.metrics import normalise
from devtools.evals.paraphrase_sets import AnnotationError, Book
from devtools.evals.querysets import QUERY_DIR, SHIPPED, contains_evidence, load
from tests.conftest import CORPUS_DIR

needs_corpus = pytest.mark.usefixtures("corpus")
PARAPHRASE = ("cooke", "student")


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_widens_a_fragment_to_its_sentence_within_one_paragraph() -> None:
    book = Book(
        "t",
        [
            "HEADING",
            "Play slowly at first. Then, when the notes are sure, play faster! Stop.",
            'He said "Keep the wrist loose." Then he left.',
        ],
    )
    assert book.sentence("when the notes") == "Then, when the notes are sure, play faster!"
    assert book.sentence("Play slowly") == "Play slowly at first."
    # A fragment spanning two sentences keeps both; closing quotes stay outside the cut.
    assert book.sentence("first. Then") == (
        "Play slowly at first. Then, when the notes are sure, play faster!"
    )
    assert book.sentence("the wrist") == 'He said "Keep the wrist loose.'
    with pytest.raises(AnnotationError, match="2 matches"):
        book.sentence("Then")
    with pytest.raises(AnnotationError, match="0 matches"):
        book.sentence("HEADING Play")


def test_evidence_matches_whole_words_across_punctuation() -> None:
    chunk = normalise("Properly understood, _technic is art_--and must be studied as such.")
    assert contains_evidence(chunk, [normalise("technic is art — and must")])
    assert not contains_evidence(chunk, [normalise("nic is art")])


def test_shipped_files_load() -> None:
    for path in SHIPPED:
        assert load(path), path


@needs_corpus
@pytest.mark.parametrize("name", PARAPHRASE)
def test_split_is_disjoint_and_rebuilt_exactly_from_the_annotations(name: str) -> None:
    dev, test = (_jsonl(QUERY_DIR / f"{name}-{part}.jsonl") for part in ("dev", "test"))
    rows = getattr(paraphrase_sets, name)(CORPUS_DIR)
    assert {r["id"] for r in dev}.isdisjoint(r["id"] for r in test)
    assert len(dev) + len(test) == len(rows)
    # The committed files are exactly what the annotations and the fixed seed produce.
    assert (dev, test) == paraphrase_sets.split(rows, by_group=name == "cooke")


@needs_corpus
def test_cooke_holds_out_whole_chapters() -> None:
    dev, test = (_jsonl(QUERY_DIR / f"cooke-{part}.jsonl") for part in ("dev", "test"))
    assert {r["group"] for r in dev}.isdisjoint(r["group"] for r in test)
    assert len(dev) + len(test) == 190  # every study question has evidence


@needs_corpus
@pytest.mark.parametrize("name", [f"{s}-{p}" for s in PARAPHRASE for p in ("dev", "test")])
def test_every_evidence_sentence_is_in_its_book(name: str) -> None:
    books = {
        b: normalise((CORPUS_DIR / path).read_text(encoding="utf-8"))
        for b, path in paraphrase_sets.BOOKS.items()
    }
    for row in _jsonl(QUERY_DIR / f"{name}.jsonl"):
        assert row["evidence"], row["id"]
        for sentence in row["evidence"]:
            assert contains_evidence(books[row["book"]], [normalise(sentence)]), (
                row["id"],
                sentence,
            )


@needs_corpus
def test_student_questions_are_not_in_the_books() -> None:
    """What makes the set "worded unlike the book": no question occurs in any book, and on average
    far fewer of its words are in its evidence than for Hofmann's questions (which are)."""
    books = " ".join(
        normalise((CORPUS_DIR / path).read_text(encoding="utf-8"))
        for path in paraphrase_sets.BOOKS.values()
    )
    rows = [*_jsonl(QUERY_DIR / "student-dev.jsonl"), *_jsonl(QUERY_DIR / "student-test.jsonl")]
    assert not [r["id"] for r in rows if contains_evidence(books, [normalise(r["query"])])]
    hofmann = _jsonl(QUERY_DIR / "hofmann.jsonl")
    assert all(contains_evidence(books, [normalise(r["query"])]) for r in hofmann[:20])

    def overlap(rs: list[dict]) -> float:
        return sum(paraphrase_sets.word_overlap(r["query"], r["evidence"]) for r in rs) / len(rs)

    assert overlap(rows) < overlap(hofmann) - 0.05
