from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.factories import Account, Accounts


def test_teacher_links_student_by_id_and_email(client: httpx.Client, accounts: Accounts) -> None:
    teacher, s1, s2 = (
        accounts.create("teacher"),
        accounts.create("student"),
        accounts.create("student"),
    )
    r = client.post("/api/relationships", json={"student_id": s1.id}, headers=teacher.headers)
    assert r.status_code == 201
    assert r.json()["teacher"]["id"] == teacher.id and r.json()["student"]["id"] == s1.id
    r = client.post(
        "/api/relationships", json={"student_email": s2.email.upper()}, headers=teacher.headers
    )
    assert r.status_code == 201

    listed = client.get("/api/relationships", headers=teacher.headers).json()
    assert listed["total"] == 2
    seen_by_student = client.get("/api/relationships", headers=s1.headers).json()
    assert [i["teacher"]["id"] for i in seen_by_student["items"]] == [teacher.id]


def test_duplicate_link_is_409(client: httpx.Client, accounts: Accounts) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    accounts.link(teacher, student)
    r = client.post("/api/relationships", json={"student_id": student.id}, headers=teacher.headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "relationship_exists"


@pytest.mark.parametrize(
    ("caller", "body_of", "status", "code"),
    [
        ("anonymous", lambda t, s, o: {"student_id": s.id}, 401, "not_authenticated"),
        ("student", lambda t, s, o: {"student_id": s.id}, 403, "forbidden_role"),
        ("teacher", lambda t, s, o: {"student_id": o.id}, 422, "not_a_student"),
        ("teacher", lambda t, s, o: {"student_id": s.id, "teacher_id": o.id}, 403, "forbidden"),
        ("teacher", lambda t, s, o: {"student_email": "ghost@example.com"}, 404, "user_not_found"),
        ("teacher", lambda t, s, o: {}, 422, "validation_error"),
        (
            "teacher",
            lambda t, s, o: {"student_id": s.id, "student_email": s.email},
            422,
            "validation_error",
        ),
        ("admin", lambda t, s, o: {"student_id": s.id}, 422, "teacher_required"),
        ("admin", lambda t, s, o: {"student_id": t.id, "teacher_id": t.id}, 422, "not_a_student"),
        ("admin", lambda t, s, o: {"student_id": s.id, "teacher_id": s.id}, 422, "not_a_teacher"),
    ],
)
def test_create_rules(
    client: httpx.Client,
    accounts: Accounts,
    caller: str,
    body_of: Callable[[Account, Account, Account], dict[str, str]],
    status: int,
    code: str,
) -> None:
    teacher, student, other_teacher = (
        accounts.create("teacher"),
        accounts.create("student"),
        accounts.create("teacher"),
    )
    callers = {
        "anonymous": lambda: {},
        "student": lambda: student.headers,
        "teacher": lambda: teacher.headers,
        "admin": lambda: accounts.create("admin").headers,
    }
    r = client.post(
        "/api/relationships",
        json=body_of(teacher, student, other_teacher),
        headers=callers[caller](),
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_admin_links_any_pair(client: httpx.Client, accounts: Accounts) -> None:
    admin, teacher, student = (
        accounts.create("admin"),
        accounts.create("teacher"),
        accounts.create("student"),
    )
    r = client.post(
        "/api/relationships",
        json={"student_id": student.id, "teacher_id": teacher.id},
        headers=admin.headers,
    )
    assert r.status_code == 201
    assert client.get("/api/relationships", headers=admin.headers).json()["total"] == 1


@pytest.mark.parametrize(
    ("caller", "status"),
    [
        ("anonymous", 401),
        ("linked_student", 403),
        ("other_teacher", 404),
        ("other_student", 404),
        ("teacher", 204),
        ("admin", 204),
    ],
)
def test_delete_rules(client: httpx.Client, accounts: Accounts, caller: str, status: int) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    link_id = accounts.link(teacher, student)
    headers = {
        "anonymous": {},
        "linked_student": student.headers,
        "other_teacher": accounts.create("teacher").headers if caller == "other_teacher" else {},
        "other_student": accounts.create("student").headers if caller == "other_student" else {},
        "teacher": teacher.headers,
        "admin": accounts.create("admin").headers if caller == "admin" else {},
    }[caller]
    r = client.delete(f"/api/relationships/{link_id}", headers=headers)
    assert r.status_code == status, r.text
    still_there = client.get("/api/relationships", headers=teacher.headers).json()["total"]
    assert still_there == (0 if status == 204 else 1)


def test_delete_unknown_and_malformed_ids(client: httpx.Client, accounts: Accounts) -> None:
    teacher = accounts.create("teacher")
    r = client.delete(
        "/api/relationships/00000000-0000-0000-0000-000000000000", headers=teacher.headers
    )
    assert r.status_code == 404
    r = client.delete("/api/relationships/not-a-uuid", headers=teacher.headers)
    assert r.status_code == 422


def test_list_pagination_bounds(client: httpx.Client, accounts: Accounts) -> None:
    teacher = accounts.create("teacher")
    assert (
        client.get("/api/relationships?page_size=101", headers=teacher.headers).status_code == 422
    )
    assert client.get("/api/relationships?page=0", headers=teacher.headers).status_code == 422
    assert client.get("/api/relationships", headers={}).status_code == 401
