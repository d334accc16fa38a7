"""A question longer than the embedding model reads (MiniLM: 256 word pieces) is answered, not
a 503: its head, cut at the model's limit, is embedded; full-text search reads all of it."""

from __future__ import annotations

import httpx
import psycopg

from service.embeddings.tokens import count_wordpiece
from service.search.query_embedding import fit_to_model
from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.seed import add_document

FINGERS = "To develop finger independence, practise slow scales with a quiet, loose hand."
# ~1,400 characters, well past 256 word pieces; the topic is at the start, a rare word at the end.
LONG_QUESTION = (
    "How should I practise to develop finger independence? "
    + "I have been playing for some years and my teacher says my fourth finger is weak, "
    "my wrist gets tense in fast passages, and I never know how slowly I should begin. "
    * 8
    + "Also, what does the word appoggiatura mean?"
)


class _Counter:
    max_tokens = 256

    def count_tokens(self, text: str) -> int:
        return count_wordpiece(text)


def test_fitting_keeps_the_head_within_the_limit() -> None:
    assert len(LONG_QUESTION) > 1300 and count_wordpiece(LONG_QUESTION) > 256
    head = fit_to_model(LONG_QUESTION, _Counter())
    assert LONG_QUESTION.startswith(head) and count_wordpiece(head) <= 256
    assert count_wordpiece(LONG_QUESTION[: len(head) + 40]) > 256 - 20  # cut near the limit
    assert fit_to_model("short question", _Counter()) == "short question"


def test_a_1400_character_question_is_answered(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    student = accounts.create("student")
    add_document(
        db, owner_id=None, is_public=True, title="fingers", chunks=[(FINGERS, embed([FINGERS])[0])]
    )
    add_document(
        db,
        owner_id=None,
        is_public=True,
        title="ornaments",
        chunks=[(o := "An appoggiatura is a leaning note.", embed([o])[0])],
    )
    for stream in (False, True):
        r = client.post(
            "/api/chat/query",
            json={"query": LONG_QUESTION, "stream": stream, "top_k": 5},
            headers=student.headers,
        )
        assert r.status_code == 200, r.text[:500]
        if stream:
            assert "event: error" not in r.text and "event: done" in r.text
        else:
            titles = {s["title"] for s in r.json()["sources"]}
            # The head (embedded) finds one; the tail (full text only) finds the other.
            assert titles == {"fingers", "ornaments"}, titles
