"""GET/PUT /api/v1/context: defaults for a new user, validation, and the access rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Accounts
from tests.recordings.conftest import assert_error

FULL = {
    "goals": "Play the Clair de lune evenly, with a singing top line",
    "constraints": "Small hands; 30 minutes on weekdays",
    "repertoire": ["Debussy: Clair de lune", "  Bach: Invention No. 1  "],
    "experience_level": "intermediate",
    "practice_minutes_per_day": 45,
}


def test_a_new_user_reads_the_defaults(client: httpx.Client, accounts: Accounts) -> None:
    student = accounts.create("student")
    r = client.get("/api/v1/context", headers=student.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user_id": student.id,
        "goals": "",
        "constraints": "",
        "repertoire": [],
        "experience_level": None,
        "practice_minutes_per_day": None,
        "updated_at": None,
    }


def test_put_upserts_and_replaces(client: httpx.Client, accounts: Accounts) -> None:
    student = accounts.create("student")
    r = client.put("/api/v1/context", json=FULL, headers=student.headers)
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["repertoire"] == ["Debussy: Clair de lune", "Bach: Invention No. 1"]
    assert saved["practice_minutes_per_day"] == 45 and saved["updated_at"]
    assert client.get("/api/v1/context", headers=student.headers).json() == saved
    # PUT replaces: what is left out goes back to its default.
    r = client.put("/api/v1/context", json={"goals": "Scales daily"}, headers=student.headers)
    assert r.json()["goals"] == "Scales daily"
    assert r.json()["repertoire"] == [] and r.json()["experience_level"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"goals": "x" * 501},
        {"constraints": "x" * 501},
        {"repertoire": ["x" * 201]},
        {"repertoire": [f"piece {i}" for i in range(51)]},
        {"repertoire": ["   "]},
        {"repertoire": "Clair de lune"},
        {"experience_level": "expert"},
        {"practice_minutes_per_day": 601},
        {"practice_minutes_per_day": -1},
        {"practice_minutes_per_day": 30.5},
        {"practice_minutes_per_day": "30"},
        {"practice_minutes_per_day": True},
        {"favourite_colour": "blue"},
    ],
)
def test_invalid_fields_are_422(
    client: httpx.Client, accounts: Accounts, body: dict[str, Any]
) -> None:
    student = accounts.create("student")
    r = client.put("/api/v1/context", json=body, headers=student.headers)
    assert_error(r, 422, "validation_error")
    assert client.get("/api/v1/context", headers=student.headers).json()["updated_at"] is None


def test_the_limits_themselves_are_accepted(client: httpx.Client, accounts: Accounts) -> None:
    student = accounts.create("student")
    body = {
        "goals": "g" * 500,
        "constraints": "c" * 500,
        "repertoire": ["p" * 200] * 50,
        "experience_level": "professional",
        "practice_minutes_per_day": 600,
    }
    r = client.put("/api/v1/context", json=body, headers=student.headers)
    assert r.status_code == 200, r.text
    assert (
        client.put(
            "/api/v1/context", json={"practice_minutes_per_day": 0}, headers=student.headers
        ).json()["practice_minutes_per_day"]
        == 0
    )


def test_a_linked_teacher_reads_but_does_not_change(
    client: httpx.Client, accounts: Accounts
) -> None:
    student, other = accounts.create("student"), accounts.create("student")
    teacher, stranger = accounts.create("teacher"), accounts.create("teacher")
    accounts.link(teacher, student)
    client.put("/api/v1/context", json=FULL, headers=student.headers)

    url = f"/api/v1/context?user_id={student.id}"
    r = client.get(url, headers=teacher.headers)
    assert r.status_code == 200 and r.json()["goals"] == FULL["goals"]
    assert_error(client.put(url, json={"goals": "mine"}, headers=teacher.headers), 403, "forbidden")
    for outsider in (stranger, other):
        assert_error(client.get(url, headers=outsider.headers), 404, "user_not_found")
        assert_error(
            client.put(url, json={"goals": "x"}, headers=outsider.headers), 404, "user_not_found"
        )
    # A teacher's own context is theirs to set.
    assert (
        client.put("/api/v1/context", json={"goals": "teach"}, headers=teacher.headers).status_code
        == 200
    )
    assert client.get(url, headers=student.headers).json()["goals"] == FULL["goals"]
    assert_error(client.get("/api/v1/context"), 401, "not_authenticated")


def test_an_admin_naming_an_unknown_user_gets_404(client: httpx.Client, accounts: Accounts) -> None:
    admin = accounts.create("admin")
    nobody = "00000000-0000-4000-8000-000000000000"
    r = client.put(f"/api/v1/context?user_id={nobody}", json={}, headers=admin.headers)
    assert_error(r, 404, "user_not_found")
