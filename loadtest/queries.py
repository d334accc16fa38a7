"""The RAG query mix: ~70 % repeats from a popular set, ~30 % never-seen queries from a large pool.

Both come from the shared corpus (Hofmann's "Piano Questions Answered" and Cooke's study questions),
the pool widened by templated variants, so caches get a fair test instead of a four-query loop.
"""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
POPULAR_SIZE = 30
POPULAR_SHARE = 0.7

# Ways students phrase the same need; applied to real questions and to topics from the books.
_QUESTION_FRAMES = (
    "{q}",
    "As an adult beginner: {q}",
    "My teacher asked me to think about this. {q}",
    "For a ten-year-old student, {ql}",
    "Quick question: {ql}",
    "In simple words, {ql}",
    "Before my exam next week: {q}",
    "{q} Please cite the page.",
)
_TOPIC_FRAMES = (
    "What does {who} say about {topic}?",
    "How should I practise {topic}?",
    "Give me advice on {topic} from {who}.",
    "What is the most common mistake with {topic}?",
    "How much time per day should go to {topic}?",
    "Explain {topic} for an intermediate pianist.",
)


def corpus_dir() -> Path:
    return Path(os.environ.get("CORPUS_DIR", REPO_ROOT.parent / "shared" / "corpus"))


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass(frozen=True)
class QuerySets:
    popular: list[str]
    pool: list[str]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def build_query_sets(corpus: Path | None = None, pool_size: int = 5000) -> QuerySets:
    """Deterministic: the same corpus always yields the same popular set and pool order."""
    root = corpus or corpus_dir()
    hofmann = _read_jsonl(root / "hofmann-piano-playing" / "piano_questions_qa.jsonl")
    cooke = _read_jsonl(root / "cooke-great-pianists" / "study_questions.jsonl")
    questions = [str(r["question"]).strip() for r in hofmann + cooke if r.get("question")]
    questions = list(dict.fromkeys(q for q in questions if 8 <= len(q) <= 400))

    # Popular: an even spread over both books, like a FAQ page would be.
    step = max(1, len(questions) // POPULAR_SIZE)
    popular = questions[::step][:POPULAR_SIZE]
    popular_set = set(popular)

    topics = sorted(
        {str(r["title"]).strip().rstrip("?.").lower() for r in hofmann if r.get("title")}
        | {str(r["subcategory"]).replace("_", " ").lower() for r in hofmann if r.get("subcategory")}
    )
    who = ["Hofmann", "Leschetizky", "Paderewski", "Busoni", "Bauer", "your teacher"]
    who += sorted({str(r["pianist"]).title() for r in cooke if r.get("pianist")})

    candidates: list[str] = []
    for frame in _QUESTION_FRAMES:
        candidates += [frame.format(q=q, ql=_lower_first(q)) for q in questions]
    for frame in _TOPIC_FRAMES:
        candidates += [frame.format(topic=t, who=w) for t in topics for w in who]
    pool = [q for q in dict.fromkeys(candidates) if q not in popular_set]
    random.Random(1913).shuffle(pool)
    return QuerySets(popular=popular, pool=pool[:pool_size])


class QueryMix:
    """Hands out queries; unseen ones are never handed out twice (until the pool runs dry)."""

    def __init__(self, sets: QuerySets, popular_share: float = POPULAR_SHARE, seed: int = 7):
        self.sets = sets
        self.popular_share = popular_share
        self._rng = random.Random(seed)
        # Zipf-like popularity: the top questions are asked far more often than the 30th.
        self._weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(sets.popular))]
        self._unseen: Iterator[str] = iter(sets.pool)
        self._lock = threading.Lock()
        self.pool_exhausted = False

    def _take_unseen(self) -> tuple[str, str]:
        try:
            return "unseen", next(self._unseen)
        except StopIteration:
            self.pool_exhausted = True
            self._unseen = iter(self.sets.pool)
            return "unseen", next(self._unseen)

    def next_unseen(self) -> tuple[str, str]:
        """A question never handed out before (until the pool runs dry)."""
        with self._lock:
            return self._take_unseen()

    def next(self) -> tuple[str, str]:
        """Returns (kind, query) with kind 'popular' or 'unseen'."""
        with self._lock:
            if self._rng.random() < self.popular_share:
                return "popular", self._rng.choices(self.sets.popular, self._weights)[0]
            return self._take_unseen()
