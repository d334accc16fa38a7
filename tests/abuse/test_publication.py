"""A teacher's public document is a request an admin approves; until then it is private to its
owner (and their linked students, as any of their documents) and absent from everyone else's
search and answers."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.factories import Account, Accounts

TEXT = "Practise slow scales with a quiet hand to develop finger independence."


def _web(title: str, public: bool) -> dict[str, Any]:
    return {
        "title": title,
        "source_type": "web",
        "url": "https://example.com/a",
        "is_public": public,
    }


def _create(client: httpx.Client, who: Account, **body: Any) -> dict[str, Any]:
    r = client.post("/api/knowledge", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()["document"]
    return doc


def _visible(client: httpx.Client, who: Account) -> set[str]:
    items = client.get("/api/knowledge", headers=who.headers).json()["items"]
    return {d["title"] for d in items}


def _add_chunk(db_url: str, document_id: str) -> None:
    """A completed document with one chunk, as the worker leaves it (searchable content)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        doc = conn.execute(
            "SELECT owner_id, is_public FROM knowledge_documents WHERE id = %s", (document_id,)
        ).fetchone()
        assert doc is not None
        conn.execute(
            "INSERT INTO document_chunks (document_id, chunk_index, content, token_count, "
            "char_start, char_end, owner_id, is_public, embedding_model, embedding) "
            "VALUES (%s, 0, %s, 12, 0, 70, %s, %s, 'test/model', '[1,0,0]')",
            (document_id, TEXT, doc[0], doc[1]),
        )
        conn.execute(
            "UPDATE knowledge_documents SET status = 'completed' WHERE id = %s", (document_id,)
        )


def _chunk_public(db_url: str, document_id: str) -> bool:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT bool_and(is_public) FROM document_chunks WHERE document_id = %s",
            (document_id,),
        ).fetchone()
    assert row is not None
    return bool(row[0])


def test_request_review_approve(client: httpx.Client, accounts: Accounts, clean_db: str) -> None:
    admin, alice, bob = (
        accounts.create("admin"),
        accounts.create("teacher"),
        accounts.create("teacher"),
    )
    sam, lone = accounts.create("student"), accounts.create("student")
    accounts.link(alice, sam)
    doc = _create(client, alice, **_web("alice's scales", True))
    assert doc["publication"] == "pending_review" and doc["is_public"] is False
    _add_chunk(clean_db, doc["id"])

    assert "alice's scales" in _visible(client, alice)
    assert "alice's scales" in _visible(client, sam)  # her students read her documents anyway
    for outsider in (bob, lone):
        assert "alice's scales" not in _visible(client, outsider)
        r = client.get(f"/api/knowledge/{doc['id']}", headers=outsider.headers)
        assert r.status_code == 404
    assert _chunk_public(clean_db, doc["id"]) is False  # search reads the chunks' flag

    queue = client.get("/api/admin/publications", headers=admin.headers).json()
    assert [d["id"] for d in queue["items"]] == [doc["id"]]
    for who in (alice, sam):  # only admins review
        r = client.get("/api/admin/publications", headers=who.headers)
        assert r.status_code == 403
        r = client.post(f"/api/admin/publications/{doc['id']}/approve", headers=who.headers)
        assert r.status_code == 403

    r = client.post(f"/api/admin/publications/{doc['id']}/approve", headers=admin.headers)
    assert r.status_code == 200 and r.json()["publication"] == "public" and r.json()["is_public"]
    assert "alice's scales" in _visible(client, bob) and "alice's scales" in _visible(client, lone)
    assert _chunk_public(clean_db, doc["id"]) is True
    assert client.get("/api/admin/publications", headers=admin.headers).json()["total"] == 0
    r = client.post(f"/api/admin/publications/{doc['id']}/approve", headers=admin.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_pending_review"

    # The owner can take it back at once.
    r = client.post(
        f"/api/knowledge/{doc['id']}/publication", json={"public": False}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["publication"] == "private"
    assert "alice's scales" not in _visible(client, bob)
    assert _chunk_public(clean_db, doc["id"]) is False


def test_reject_with_a_note_then_ask_again(client: httpx.Client, accounts: Accounts) -> None:
    admin, alice, bob = (
        accounts.create("admin"),
        accounts.create("teacher"),
        accounts.create("teacher"),
    )
    doc = _create(client, alice, **_web("spam", True))
    r = client.post(
        f"/api/admin/publications/{doc['id']}/reject",
        json={"note": "Not teaching material."},
        headers=admin.headers,
    )
    assert r.status_code == 200
    assert r.json()["publication"] == "rejected" and r.json()["is_public"] is False
    mine = client.get(f"/api/knowledge/{doc['id']}", headers=alice.headers).json()
    assert mine["publication_note"] == "Not teaching material."
    assert "spam" not in _visible(client, bob)
    # Asking again goes back to the queue; it never skips review.
    r = client.post(
        f"/api/knowledge/{doc['id']}/publication", json={"public": True}, headers=alice.headers
    )
    assert r.json()["publication"] == "pending_review"
    r = client.post(
        f"/api/knowledge/{doc['id']}/publication", json={"public": True}, headers=bob.headers
    )
    assert r.status_code == 404  # not his, not visible to him


def test_admins_publish_platform_documents_at_once(
    client: httpx.Client, accounts: Accounts
) -> None:
    admin, lone = accounts.create("admin"), accounts.create("student")
    doc = _create(client, admin, **_web("platform book", True))
    assert doc["publication"] == "public" and doc["owner_id"] is None
    assert "platform book" in _visible(client, lone)


def test_review_and_publication_changes_are_audited(
    client: httpx.Client, accounts: Accounts
) -> None:
    admin, alice = accounts.create("admin"), accounts.create("teacher")
    doc = _create(client, alice, **_web("audited", True))
    client.post(f"/api/admin/publications/{doc['id']}/approve", headers=admin.headers)
    entries = client.get(
        "/api/admin/audit", params={"action": "publication.approve"}, headers=admin.headers
    ).json()["items"]
    assert entries[0]["target_id"] == doc["id"] and entries[0]["actor_id"] == admin.id
