"""Every role sees exactly its scope, with documents planted just outside it."""

from __future__ import annotations

import httpx
import psycopg

from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.seed import add_document

TEXT = "Practise slow scales with a quiet hand to develop finger independence, {who}."


def _plant(db: psycopg.Connection, embed: SyncEmbedder, owners: dict[str, str | None]) -> dict:
    docs = {}
    for label, (owner, public) in {
        "public_b": (owners["teacher_b"], True),
        "private_a": (owners["teacher_a"], False),
        "private_b": (owners["teacher_b"], False),
        "platform_private": (None, False),
        "platform_public": (None, True),
    }.items():
        text = TEXT.format(who=label.replace("_", " "))
        docs[label] = add_document(
            db,
            owner_id=owner,
            is_public=public,
            title=label,
            chunks=[(text, embed([text])[0])],
        )
    return docs


def _seen(client: httpx.Client, headers: dict[str, str], stream: bool = False) -> set[str]:
    r = client.post(
        "/api/chat/query",
        json={"query": "How do I develop finger independence?", "top_k": 20},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return {s["title"] for s in r.json()["sources"]}


def test_each_role_sees_exactly_its_scope(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    ta = accounts.create("teacher", "ta")
    tb = accounts.create("teacher", "tb")
    linked = accounts.create("student", "linked")
    lonely = accounts.create("student", "lonely")
    admin = accounts.create("admin")
    accounts.link(ta, linked)
    _plant(db, embed, {"teacher_a": ta.id, "teacher_b": tb.id})

    public = {"public_b", "platform_public"}
    assert _seen(client, ta.headers) == public | {"private_a"}
    assert _seen(client, tb.headers) == public | {"private_b"}
    assert _seen(client, linked.headers) == public | {"private_a"}
    assert _seen(client, lonely.headers) == public
    assert _seen(client, admin.headers) == public | {
        "private_a",
        "private_b",
        "platform_private",
    }
    # Second round comes from the search cache: still no crossing between scopes.
    assert _seen(client, lonely.headers) == public
    assert _seen(client, ta.headers) == public | {"private_a"}


def test_answer_text_never_quotes_out_of_scope_content(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    ta = accounts.create("teacher", "ta")
    tb = accounts.create("teacher", "tb")
    _plant(db, embed, {"teacher_a": ta.id, "teacher_b": tb.id})
    for _ in range(2):  # the second answer is served from the answer cache
        r = client.post(
            "/api/chat/query",
            json={"query": "How do I develop finger independence?", "top_k": 20},
            headers=ta.headers,
        )
        body = r.json()
        assert "private b" not in body["answer"]
        assert "platform private" not in body["answer"]
        assert all("private b" not in s["text"] for s in body["sources"])
