"""Annotation content is typed per kind, bounded, and tied to the project's real page count."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import Account, Accounts
from tests.projects.conftest import create_project, ready_project

RECT = {"x": 72.0, "y": 100.5, "width": 200, "height": 14}
POINT = {"x": 10, "y": 10}

VALID: dict[str, dict[str, Any]] = {
    "highlight": {"rects": [RECT, RECT], "color": "#ffd54f"},
    "note": {
        "text": "Relax the wrist here",
        "position": {"x": 300, "y": 400},
        "color": "#00000080",
    },
    "drawing": {
        "strokes": [{"points": [POINT, {"x": 20, "y": 30}], "width": 2.5, "color": "#e53935"}]
    },
}

INVALID: list[tuple[str, dict[str, Any]]] = [
    ("highlight", {"rects": [], "color": "#ffd54f"}),
    ("highlight", {"rects": [RECT], "color": "yellow"}),
    ("highlight", {"rects": [RECT | {"width": -5}], "color": "#ffd54f"}),
    ("highlight", {"rects": [RECT] * 201, "color": "#ffd54f"}),
    ("highlight", {"rects": [RECT], "color": "#ffd54f", "script": "<x>"}),
    ("note", {"text": "", "position": POINT}),
    ("note", {"text": "x" * 5001, "position": POINT}),
    ("note", {"text": "hi"}),
    ("note", {"text": "hi", "position": {"x": "NaN", "y": 1}}),
    ("note", {"text": "hi", "position": {"x": 1e9, "y": 1}}),
    ("drawing", {"strokes": []}),
    ("drawing", {"strokes": [{"points": [POINT], "width": 0, "color": "#000000"}]}),
    ("drawing", {"strokes": [{"points": [POINT] * 2001, "width": 1, "color": "#000000"}]}),
    ("drawing", {"strokes": [{"points": [POINT] * 1500, "width": 1, "color": "#000000"}] * 14}),
    ("drawing", VALID["highlight"]),  # content of another type
]


@pytest.fixture
def owner(accounts: Accounts) -> Account:
    return accounts.create("student")


def _post(client: httpx.Client, who: Account, project_id: str, **fields: Any) -> httpx.Response:
    return client.post(
        "/api/annotations", json={"project_id": project_id, **fields}, headers=who.headers
    )


def test_each_type_round_trips(client: httpx.Client, owner: Account) -> None:
    project_id = ready_project(client, owner)
    for kind, content in VALID.items():
        r = _post(client, owner, project_id, page=5, type=kind, content=content)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["type"] == kind and body["page"] == 5 and body["author_id"] == owner.id
        assert client.get(f"/api/annotations/{body['id']}", headers=owner.headers).json() == body
    listed = client.get(
        f"/api/annotations?project_id={project_id}&page=5&page_number=2&page_size=2",
        headers=owner.headers,
    ).json()
    assert listed["total"] == 3 and len(listed["items"]) == 1 and listed["page"] == 2
    other_page = client.get(
        f"/api/annotations?project_id={project_id}&page=4", headers=owner.headers
    )
    assert other_page.json()["total"] == 0


def test_invalid_content_is_422(client: httpx.Client, owner: Account) -> None:
    project_id = ready_project(client, owner)
    accepted = []
    for i, (kind, content) in enumerate(INVALID):
        r = _post(client, owner, project_id, page=1, type=kind, content=content)
        if r.status_code != 422 or r.json()["error"]["code"] != "validation_error":
            accepted.append((i, kind, r.status_code))
    assert not accepted, f"invalid content not refused: {accepted}"
    listed = client.get(f"/api/annotations?project_id={project_id}", headers=owner.headers)
    assert listed.json()["total"] == 0


def test_unknown_type_and_bad_pages(client: httpx.Client, owner: Account) -> None:
    project_id = ready_project(client, owner)  # five pages
    note = VALID["note"]
    r = _post(client, owner, project_id, page=1, type="stamp", content=note)
    assert r.status_code == 422
    for page in (0, -1):
        r = _post(client, owner, project_id, page=page, type="note", content=note)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = _post(client, owner, project_id, page=6, type="note", content=note)
    assert r.status_code == 422 and r.json()["error"]["code"] == "page_out_of_range"
    assert _post(client, owner, project_id, page=5, type="note", content=note).status_code == 201


def test_pending_project_cannot_be_annotated(client: httpx.Client, owner: Account) -> None:
    pending = create_project(client, owner)["project"]["id"]
    r = _post(client, owner, pending, page=1, type="note", content=VALID["note"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "project_not_ready"


def test_update_validates_against_the_existing_type(client: httpx.Client, owner: Account) -> None:
    project_id = ready_project(client, owner)
    created = _post(client, owner, project_id, page=1, type="highlight", content=VALID["highlight"])
    url = f"/api/annotations/{created.json()['id']}"
    r = client.patch(url, json={"content": VALID["note"]}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = client.patch(url, json={"page": 9}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "page_out_of_range"
    r = client.patch(url, json={"type": "note"}, headers=owner.headers)
    assert r.status_code == 422
    new = {"rects": [RECT], "color": "#00ff00"}
    r = client.patch(url, json={"page": 4, "content": new}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["page"] == 4 and r.json()["content"] == new
