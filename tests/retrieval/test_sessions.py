"""Chat sessions: owner-only, and queries with a session id store both turns with sources."""

from __future__ import annotations

import httpx
import psycopg

from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.test_answers import QUESTION, plant


def test_session_lifecycle_and_ownership(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    me = accounts.create("student")
    other = accounts.create("student")
    plant(db, embed)
    r = client.post("/api/chat/sessions", json={"title": "Technique"}, headers=me.headers)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]

    r = client.post(
        "/api/chat/query", json={"query": QUESTION, "session_id": sid}, headers=me.headers
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["session_id"] == sid and answer["message_id"]

    r = client.post(
        "/api/chat/messages", json={"session_id": sid, "content": "Thanks!"}, headers=me.headers
    )
    assert r.status_code == 201

    detail = client.get(f"/api/chat/sessions/{sid}", headers=me.headers).json()
    roles = [m["role"] for m in detail["messages"]]
    assert roles == ["user", "assistant", "user"]
    assistant = detail["messages"][1]
    assert assistant["id"] == answer["message_id"]
    assert assistant["content"] == answer["answer"]
    assert [s["chunk_id"] for s in assistant["sources"]] == [
        s["chunk_id"] for s in answer["sources"]
    ]
    assert assistant["confidence"] == answer["confidence"]

    listing = client.get("/api/chat/sessions", headers=me.headers).json()
    assert [s["id"] for s in listing["items"]] == [sid] and listing["total"] == 1

    # Someone else can't read, append to, query into, or delete it.
    assert client.get(f"/api/chat/sessions/{sid}", headers=other.headers).status_code == 404
    assert client.get("/api/chat/sessions", headers=other.headers).json()["total"] == 0
    r = client.post(
        "/api/chat/messages", json={"session_id": sid, "content": "hi"}, headers=other.headers
    )
    assert r.status_code == 404
    r = client.post(
        "/api/chat/query", json={"query": QUESTION, "session_id": sid}, headers=other.headers
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "session_not_found"
    assert client.delete(f"/api/chat/sessions/{sid}", headers=other.headers).status_code == 404

    assert client.delete(f"/api/chat/sessions/{sid}", headers=me.headers).status_code == 204
    assert client.get(f"/api/chat/sessions/{sid}", headers=me.headers).status_code == 404


def test_unauthenticated_and_malformed(client: httpx.Client, accounts: Accounts) -> None:
    me = accounts.create("teacher")
    assert client.post("/api/chat/query", json={"query": "x"}).status_code == 401
    r = client.get("/api/chat/sessions/not-a-uuid", headers=me.headers)
    assert r.status_code == 422
