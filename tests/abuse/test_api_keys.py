"""Personal API keys: created (shown once, stored hashed), listed, revoked; read or write scope;
the user's own rights and limits; last use recorded."""

from __future__ import annotations

import hashlib

import httpx
import psycopg

from tests.factories import Accounts


def test_create_use_list_revoke(client: httpx.Client, accounts: Accounts, clean_db: str) -> None:
    user = accounts.create("teacher")
    r = client.post(
        "/api/auth/api-keys",
        json={"name": "practice log sync", "scope": "write"},
        headers=user.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("pk_") and len(key) > 40 and created["prefix"] == key[:9]
    assert created["last_used_at"] is None

    # Stored as a SHA-256 only: the key itself is nowhere in the database.
    with psycopg.connect(clean_db) as conn:
        stored = conn.execute("SELECT key_hash, prefix FROM api_keys").fetchall()
        dump = conn.execute("SELECT row_to_json(k)::text FROM api_keys k").fetchone()
    assert stored == [(hashlib.sha256(key.encode()).digest(), created["prefix"])]
    assert dump is not None and key not in dump[0]

    me = client.get("/api/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["id"] == user.id
    r = client.post(
        "/api/projects",
        json={"title": "By script", "filename": "s.pdf", "file_size": 1000},
        headers={"X-API-Key": key},
    )
    assert r.status_code == 201  # write scope: whatever the user may do

    listed = client.get("/api/auth/api-keys", headers=user.headers).json()
    assert listed["total"] == 1
    item = listed["items"][0]
    assert "key" not in item and item["last_used_at"] is not None  # last use recorded

    assert (
        client.delete(f"/api/auth/api-keys/{item['id']}", headers=user.headers).status_code == 204
    )
    r = client.get("/api/auth/me", headers={"X-API-Key": key})
    assert r.status_code == 401 and r.json()["error"]["code"] == "api_key_invalid"
    listed = client.get("/api/auth/api-keys", headers=user.headers).json()
    assert listed["items"][0]["revoked_at"] is not None


def test_read_scope_is_read_only(client: httpx.Client, accounts: Accounts) -> None:
    user = accounts.create("teacher")
    key = client.post("/api/auth/api-keys", json={"name": "reader"}, headers=user.headers).json()
    assert key["scope"] == "read"  # the safer default
    headers = {"X-API-Key": key["key"]}
    assert client.get("/api/projects", headers=headers).status_code == 200
    r = client.post(
        "/api/projects",
        json={"title": "x", "filename": "x.pdf", "file_size": 1000},
        headers=headers,
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "api_key_read_only"


def test_keys_cannot_manage_keys_or_touch_others(client: httpx.Client, accounts: Accounts) -> None:
    alice, bob = accounts.create("teacher"), accounts.create("teacher")
    key = client.post(
        "/api/auth/api-keys", json={"name": "w", "scope": "write"}, headers=alice.headers
    ).json()
    as_key = {"X-API-Key": key["key"]}
    r = client.post("/api/auth/api-keys", json={"name": "more"}, headers=as_key)
    assert r.status_code == 403 and r.json()["error"]["code"] == "session_required"
    assert client.delete(f"/api/auth/api-keys/{key['id']}", headers=as_key).status_code == 403
    # Bob can neither see nor revoke Alice's key.
    assert client.get("/api/auth/api-keys", headers=bob.headers).json()["total"] == 0
    assert client.delete(f"/api/auth/api-keys/{key['id']}", headers=bob.headers).status_code == 404
    assert client.get("/api/auth/me", headers=as_key).status_code == 200


def test_bad_keys_and_names(client: httpx.Client, accounts: Accounts) -> None:
    user = accounts.create("student")
    for bad in ("pk_not-a-real-key", "x"):
        r = client.get("/api/auth/me", headers={"X-API-Key": bad})
        assert r.status_code == 401 and r.json()["error"]["code"] == "api_key_invalid"
    r = client.post("/api/auth/api-keys", json={"name": "a\u0000b"}, headers=user.headers)
    assert r.status_code == 422
    r = client.post(
        "/api/auth/api-keys", json={"name": "x", "scope": "admin"}, headers=user.headers
    )
    assert r.status_code == 422
