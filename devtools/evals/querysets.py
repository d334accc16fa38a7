"""Labelled query files (JSONL) and how one query's results are scored.

One object per line: {"id", "query", "evidence": [exact sentence(s) from the source]} — a
retrieved chunk is a hit when it contains any evidence string (whitespace/case-normalised) —
or {"id", "query", "qrels": {"<doc id>": grade}} for graded judgements (DBpedia), where a
chunk's gain is its document's grade and documents count once, at their best rank.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.evals.metrics import hit_at, ndcg_at, normalise, recall_at, reciprocal_rank

QUERY_DIR = Path(__file__).parent / "queries"
# Hofmann first: the ANN study embeds its questions.
SHIPPED = tuple(
    QUERY_DIR / f"{name}.jsonl"
    for name in ("hofmann", "cooke-dev", "cooke-test", "student-dev", "student-test", "dbpedia")
)


def role(name: str) -> str:
    """What a set's figures may be used for (queries/README.md)."""
    if name.endswith("-dev"):
        return "dev (tuning)"
    if name.endswith("-test"):
        return "held out (report only)"
    if name == "hofmann":
        return "regression (questions are in the book)"
    return "out of domain" if name == "dbpedia" else "ad hoc"


@dataclass
class Query:
    id: str
    query: str
    evidence: list[str] = field(default_factory=list)
    qrels: dict[str, int] = field(default_factory=dict)

    @property
    def graded(self) -> bool:
        return bool(self.qrels)


def load(path: Path) -> list[Query]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        obj: dict[str, Any] = json.loads(line)
        if not obj.get("query") or not (obj.get("evidence") or obj.get("qrels")):
            raise ValueError(f"{path}:{n}: needs 'query' and 'evidence' or 'qrels'")
        out.append(
            Query(
                id=str(obj.get("id", n)),
                query=obj["query"],
                evidence=[normalise(e) for e in obj.get("evidence", [])],
                qrels={str(k): int(v) for k, v in obj.get("qrels", {}).items()},
            )
        )
    return out


@dataclass
class Retrieved:
    """One ranked chunk: its normalised text and the external id of its document."""

    text: str
    doc_key: str


def score(q: Query, ranked: list[Retrieved], all_texts: list[str], k: int) -> dict[str, float]:
    """recall@1/5/k, MRR and nDCG@k for one query."""
    if q.graded:
        seen: set[str] = set()
        gains: list[float] = []
        for r in ranked:
            if r.doc_key in seen:
                continue
            seen.add(r.doc_key)
            gains.append(float(q.qrels.get(r.doc_key, 0)))
        relevant = [float(g) for g in q.qrels.values() if g > 0]
        return {
            "recall@1": recall_at(gains, len(relevant), 1),
            "recall@5": recall_at(gains, len(relevant), 5),
            f"recall@{k}": recall_at(gains, len(relevant), k),
            "mrr": reciprocal_rank(gains[:k]),
            f"ndcg@{k}": ndcg_at(gains, relevant, k),
        }
    gains = [1.0 if contains_evidence(r.text, q.evidence) else 0.0 for r in ranked]
    relevant_total = sum(1 for t in all_texts if contains_evidence(t, q.evidence))
    return {
        "recall@1": hit_at(gains, 1),
        "recall@5": hit_at(gains, 5),
        f"recall@{k}": hit_at(gains, k),
        "mrr": reciprocal_rank(gains[:k]),
        f"ndcg@{k}": ndcg_at(gains, [1.0] * max(1, relevant_total), k),
    }


def contains_evidence(text: str, evidence: list[str]) -> bool:
    """Whole-word containment of any normalised evidence sentence ("art is" is not in "heart is")."""
    padded = f" {text} "
    return any(f" {e} " in padded for e in evidence)


def mean(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    return {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
