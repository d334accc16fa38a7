"""Writes the shipped query sets from the corpus (run once; the outputs are committed).

hofmann.jsonl: each of Hofmann's 244 questions as a query; its evidence is every sentence of
Hofmann's answer with at least 6 words (any one found in a chunk counts as a hit). The questions
appear word for word in the book, so this set is a regression check, not a quality measure.
dbpedia.jsonl: the BEIR DBpedia-Entity subset queries with their graded qrels.
cooke-{dev,test}.jsonl, student-{dev,test}.jsonl: questions worded unlike the books, with
evidence sentences (see paraphrase_sets.py and queries/README.md).

    python -m devtools.evals.build_queries --corpus ../shared/corpus
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

from devtools.evals import paraphrase_sets
from service.core.config import Settings

OUT = Path(__file__).parent / "queries"
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def evidence_sentences(answer: str, min_words: int = 6) -> list[str]:
    out: list[str] = []
    for para in answer.split("\n\n"):
        for s in _SENTENCE.split(para.strip()):
            s = s.strip()
            if len(s.split()) >= min_words:
                out.append(s)
    # Very short answers: the whole answer is the evidence.
    return out or [answer.strip()]


def hofmann(corpus: Path) -> list[dict]:
    rows = []
    src = corpus / "hofmann-piano-playing" / "piano_questions_qa.jsonl"
    for line in src.read_text(encoding="utf-8").splitlines():
        qa = json.loads(line)
        rows.append(
            {"id": qa["id"], "query": qa["question"], "evidence": evidence_sentences(qa["answer"])}
        )
    return rows


def dbpedia(corpus: Path) -> list[dict]:
    base = corpus / "dbpedia-entity-subset"
    qrels: dict[str, dict[str, int]] = {}
    with (base / "qrels" / "test.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    rows = []
    for line in (base / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if q["_id"] in qrels:
            rows.append({"id": q["_id"], "query": q["text"], "qrels": qrels[q["_id"]]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=Settings().local.corpus_dir)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    sets: list[tuple[str, list[dict]]] = [
        ("hofmann", hofmann(args.corpus)),
        ("dbpedia", dbpedia(args.corpus)),
    ]
    for name, rows, by_group in (
        ("cooke", paraphrase_sets.cooke(args.corpus), True),
        ("student", paraphrase_sets.student(args.corpus), False),
    ):
        dev, test = paraphrase_sets.split(rows, by_group)
        sets += [(f"{name}-dev", dev), (f"{name}-test", test)]
    for name, rows in sets:
        path = OUT / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        overlap = sum(
            paraphrase_sets.word_overlap(r["query"], r.get("evidence", [])) for r in rows
        ) / max(1, len(rows))
        print(f"wrote {len(rows)} queries to {path} (question words in evidence: {overlap:.2f})")


if __name__ == "__main__":
    main()
