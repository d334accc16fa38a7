"""The audit log: sensitive actions with who, what, when and the request id; admins read it
(paginated, newest first); nobody can change or delete an entry."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from devtools.devstack.cli import cmd_admin
from service.core.config import Settings
from tests.factories import Accounts


def _audit(client: httpx.Client, admin_headers: dict[str, str], **params: str | int) -> list[dict]:
    r = client.get("/api/admin/audit", params=params, headers=admin_headers)
    assert r.status_code == 200, r.text
    items: list[dict] = r.json()["items"]
    return items


def test_sensitive_actions_are_recorded(client: httpx.Client, accounts: Accounts) -> None:
    admin, teacher, student = (
        accounts.create("admin"),
        accounts.create("teacher"),
        accounts.create("student"),
    )
    h = {**teacher.headers, "X-Request-ID": "link-req-1"}
    req = client.post(
        "/api/relationships/requests", json={"student_email": student.email}, headers=h
    ).json()
    link = client.post(
        f"/api/relationships/requests/{req['id']}/accept", headers=student.headers
    ).json()
    client.delete(f"/api/relationships/{link['id']}", headers=student.headers)
    key = client.post("/api/auth/api-keys", json={"name": "k"}, headers=teacher.headers).json()
    client.delete(f"/api/auth/api-keys/{key['id']}", headers=teacher.headers)
    r = client.put(
        f"/api/admin/users/{teacher.id}/role", json={"role": "student"}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["role"] == "student"
    client.post("/api/auth/login", json={"email": student.email, "password": "nope"})

    entries = _audit(client, admin.headers, page_size=100)
    actions = [e["action"] for e in entries]
    for expected in (
        "relationship.request",
        "relationship.accept",
        "relationship.delete",
        "api_key.create",
        "api_key.revoke",
        "user.role_change",
        "auth.login_failed",
    ):
        assert expected in actions, (expected, actions)
    assert actions[0] == "auth.login_failed"  # newest first
    request = next(e for e in entries if e["action"] == "relationship.request")
    assert request["actor_id"] == teacher.id and request["request_id"] == "link-req-1"
    role = next(e for e in entries if e["action"] == "user.role_change")
    assert role["details"] == {"from": "teacher", "to": "student"}
    assert role["target_id"] == teacher.id and role["actor_email"] == admin.email
    created = next(e for e in entries if e["action"] == "api_key.create")
    assert key["key"] not in str(created)  # never the secret itself
    # Filters and paging.
    only = _audit(client, admin.headers, action="api_key.revoke")
    assert [e["action"] for e in only] == ["api_key.revoke"]
    assert len(_audit(client, admin.headers, page_size=2)) == 2
    by_student = _audit(client, admin.headers, actor_id=student.id)
    assert {e["action"] for e in by_student} == {"relationship.accept", "relationship.delete"}


def test_only_admins_read_it(client: httpx.Client, accounts: Accounts) -> None:
    for role in ("teacher", "student"):
        r = client.get("/api/admin/audit", headers=accounts.create(role).headers)
        assert r.status_code == 403
    assert client.get("/api/admin/audit").status_code == 401


def test_admins_cannot_change_their_own_role(client: httpx.Client, accounts: Accounts) -> None:
    admin = accounts.create("admin")
    r = client.put(
        f"/api/admin/users/{admin.id}/role", json={"role": "student"}, headers=admin.headers
    )
    assert r.status_code == 409


def test_entries_cannot_be_changed_or_deleted(clean_db: str, client: httpx.Client) -> None:
    client.post("/api/auth/login", json={"email": "x@example.com", "password": "nope"})
    with psycopg.connect(clean_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE audit_log SET action = 'nothing'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")


def test_make_admin_is_audited(
    client: httpx.Client, accounts: Accounts, settings: Settings
) -> None:
    user, admin = accounts.create("teacher"), accounts.create("admin")
    assert cmd_admin(settings, user.email) == 0
    assert cmd_admin(settings, user.email) == 0  # already an admin: nothing more to record
    changes = [
        e
        for e in _audit(client, admin.headers, action="user.role_change")
        if e["target_id"] == user.id
    ]
    assert len(changes) == 1
    assert changes[0]["details"] == {"from": "teacher", "to": "admin", "by": "make admin"}
