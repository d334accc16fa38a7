"""Teacher-student links need the student's consent, and asking reveals nothing about who is
registered. Rules: service/access/links.py."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx
import pytest

from tests.factories import Account, Accounts


def _ask(client: httpx.Client, teacher: Account, email: str) -> httpx.Response:
    return client.post(
        "/api/relationships/requests", json={"student_email": email}, headers=teacher.headers
    )


def test_request_accept_then_either_side_ends_it(client: httpx.Client, accounts: Accounts) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    asked = _ask(client, teacher, student.email.upper())
    assert asked.status_code == 202, asked.text
    request = asked.json()
    assert request["status"] == "pending" and request["student_email"] == student.email.lower()
    # Nothing is linked until the student says so.
    assert client.get("/api/relationships", headers=teacher.headers).json()["total"] == 0

    incoming = client.get("/api/relationships/requests", headers=student.headers).json()
    assert [r["id"] for r in incoming["items"]] == [request["id"]]
    assert incoming["items"][0]["teacher"]["id"] == teacher.id

    r = client.post(f"/api/relationships/requests/{request['id']}/accept", headers=student.headers)
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["teacher"]["id"] == teacher.id and link["student"]["id"] == student.id
    assert client.get("/api/relationships", headers=student.headers).json()["total"] == 1
    mine = client.get("/api/relationships/requests", headers=teacher.headers).json()["items"]
    assert mine[0]["status"] == "accepted" and mine[0]["relationship_id"] == link["id"]

    # The student ends it; the teacher's view follows at once.
    r = client.delete(f"/api/relationships/{link['id']}", headers=student.headers)
    assert r.status_code == 204
    assert client.get("/api/relationships", headers=teacher.headers).json()["total"] == 0


def test_teacher_can_end_a_link_too(client: httpx.Client, accounts: Accounts) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    link_id = accounts.link(teacher, student)
    assert (
        client.delete(f"/api/relationships/{link_id}", headers=teacher.headers).status_code == 204
    )
    assert client.get("/api/relationships", headers=student.headers).json()["total"] == 0


def test_asking_reveals_nothing_about_the_address(client: httpx.Client, accounts: Accounts) -> None:
    """Unregistered, a student, a teacher, an admin, already linked: the same answer."""
    teacher = accounts.create("teacher")
    linked, student = accounts.create("student"), accounts.create("student")
    accounts.link(teacher, linked)
    other_teacher, admin = accounts.create("teacher"), accounts.create("admin")
    shapes = set()
    for email in (
        "nobody-here@example.com",
        student.email,
        other_teacher.email,
        admin.email,
        linked.email,
    ):
        r = _ask(client, teacher, email)
        assert r.status_code == 202, (email, r.text)
        body = r.json()
        shapes.add((tuple(sorted(body)), body["status"], body["responded_at"]))
        assert body["student_email"] == email.lower()
    assert len(shapes) == 1, shapes
    # Asking again returns the same open request, not a second one.
    again = _ask(client, teacher, "nobody-here@example.com").json()
    listed = client.get("/api/relationships/requests", headers=teacher.headers).json()
    assert again["id"] in {i["id"] for i in listed["items"]}
    assert listed["total"] == 6  # the accepted one, plus five open


def test_a_decline_is_private_to_the_student(client: httpx.Client, accounts: Accounts) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    request = _ask(client, teacher, student.email).json()
    r = client.post(f"/api/relationships/requests/{request['id']}/decline", headers=student.headers)
    assert r.status_code == 200 and r.json()["status"] == "declined"
    # The teacher can't tell a decline from silence (that would confirm the address)...
    seen = client.get("/api/relationships/requests", headers=teacher.headers).json()["items"]
    assert seen[0]["status"] == "pending" and seen[0]["responded_at"] is None
    # ... asking again doesn't pester the student ...
    assert _ask(client, teacher, student.email).json()["id"] == request["id"]
    assert client.get("/api/relationships/requests", headers=student.headers).json()["total"] == 0
    # ... and the teacher can withdraw it.
    r = client.delete(f"/api/relationships/requests/{request['id']}", headers=teacher.headers)
    assert r.status_code == 204


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("other_student", 404, "link_request_not_found"),
        ("teacher", 403, "not_the_addressee"),
        ("other_teacher", 404, "link_request_not_found"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_only_the_addressee_accepts(
    client: httpx.Client, accounts: Accounts, who: str, status: int, code: str
) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    request = _ask(client, teacher, student.email).json()
    headers = {
        "other_student": lambda: accounts.create("student").headers,
        "teacher": lambda: teacher.headers,
        "other_teacher": lambda: accounts.create("teacher").headers,
        "anonymous": lambda: {},
    }[who]()
    r = client.post(f"/api/relationships/requests/{request['id']}/accept", headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert client.get("/api/relationships", headers=teacher.headers).json()["total"] == 0


def test_a_cancelled_request_cannot_be_accepted(client: httpx.Client, accounts: Accounts) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    request = _ask(client, teacher, student.email).json()
    assert (
        client.delete(
            f"/api/relationships/requests/{request['id']}", headers=teacher.headers
        ).status_code
        == 204
    )
    r = client.post(f"/api/relationships/requests/{request['id']}/accept", headers=student.headers)
    assert r.status_code == 404  # no longer addressed to anyone


def test_asking_takes_the_same_time_whoever_the_address_is(
    client: httpx.Client, accounts: Accounts
) -> None:
    """No timing oracle: the request is stored without looking the address up, so a registered
    student's address and an unknown one cost the same statements. Interleaved, medians."""
    teacher = accounts.create("teacher")
    students = [accounts.create("student").email for _ in range(15)]
    unknown = [f"ghost-{i}@example.com" for i in range(15)]
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for known_email, ghost in zip(students, unknown, strict=True):
        for kind, email in (("known", known_email), ("unknown", ghost)):
            started = time.perf_counter()
            assert _ask(client, teacher, email).status_code == 202
            timings[kind].append(time.perf_counter() - started)
    known = statistics.median(timings["known"])
    unknown_median = statistics.median(timings["unknown"])
    assert abs(known - unknown_median) < max(0.005, 0.5 * min(known, unknown_median)), timings


@pytest.mark.parametrize(
    ("caller", "body_of", "status", "code"),
    [
        ("anonymous", lambda t, s, o: {"student_id": s.id}, 401, "not_authenticated"),
        ("student", lambda t, s, o: {"student_id": s.id}, 403, "forbidden_role"),
        ("teacher", lambda t, s, o: {"student_id": s.id}, 403, "link_request_required"),
        ("teacher", lambda t, s, o: {"student_email": s.email}, 403, "link_request_required"),
        ("teacher", lambda t, s, o: {}, 422, "validation_error"),
        ("admin", lambda t, s, o: {"student_id": s.id}, 422, "teacher_required"),
        ("admin", lambda t, s, o: {"student_id": t.id, "teacher_id": t.id}, 422, "not_a_student"),
        ("admin", lambda t, s, o: {"student_id": s.id, "teacher_id": s.id}, 422, "not_a_teacher"),
        (
            "admin",
            lambda t, s, o: {"student_email": "ghost@example.com", "teacher_id": t.id},
            404,
            "user_not_found",
        ),
    ],
)
def test_direct_link_rules(
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


def test_only_teachers_ask(client: httpx.Client, accounts: Accounts) -> None:
    student, admin = accounts.create("student"), accounts.create("admin")
    for who in (student, admin):
        r = _ask(client, who, "someone@example.com")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"


def test_admin_links_any_pair_and_duplicates_are_409(
    client: httpx.Client, accounts: Accounts
) -> None:
    admin, teacher, student = (
        accounts.create("admin"),
        accounts.create("teacher"),
        accounts.create("student"),
    )
    body = {"student_id": student.id, "teacher_id": teacher.id}
    r = client.post("/api/relationships", json=body, headers=admin.headers)
    assert r.status_code == 201
    assert client.get("/api/relationships", headers=admin.headers).json()["total"] == 1
    r = client.post("/api/relationships", json=body, headers=admin.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "relationship_exists"


@pytest.mark.parametrize(
    ("caller", "status"),
    [
        ("anonymous", 401),
        ("linked_student", 204),
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
