"""Every projects/annotations endpoint against every kind of caller (table-driven).

Callers: the owner; users granted view, edit and admin; an unrelated user; a platform admin;
anonymous. Each endpoint runs against a fresh project so destructive calls don't interfere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import Account, Accounts
from tests.projects.conftest import ORIGIN_SECRET, ready_project, share

CALLERS = ("owner", "view", "edit", "admin", "other", "platform_admin", "anonymous")
NOTE = {"text": "watch the thumb", "position": {"x": 10, "y": 20}}


@dataclass
class World:
    client: httpx.Client
    accounts: dict[str, Account]
    project_id: str
    annotation_id: str
    bystander: Account  # has view access; the target of grant/revoke calls

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else self.accounts[caller].headers


def _world(client: httpx.Client, accounts: dict[str, Account], bystander: Account) -> World:
    owner = accounts["owner"]
    project_id = ready_project(client, owner)
    for level in ("view", "edit", "admin"):
        share(client, owner, project_id, accounts[level], level)
    share(client, owner, project_id, bystander, "view")
    r = client.post(
        "/api/annotations",
        json={"project_id": project_id, "page": 2, "type": "note", "content": NOTE},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    return World(client, accounts, project_id, r.json()["id"], bystander)


Call = Callable[[World, str], httpx.Response]


def _req(method: str, path: str, **kw: object) -> Call:
    def call(w: World, caller: str) -> httpx.Response:
        url = path.format(p=w.project_id, a=w.annotation_id, b=w.bystander.id)
        extra = kw.get("headers", {})
        body = kw.get("json")
        if callable(body):
            body = body(w)
        return w.client.request(
            method,
            url,
            json=body,
            headers={**w.headers(caller), **extra},  # type: ignore[dict-item]
        )

    return call


READERS = {"owner": 200, "view": 200, "edit": 200, "admin": 200, "platform_admin": 200}
HIDDEN = {"other": 404, "anonymous": 401}


def _only(ok: int, allowed: set[str], refused: int = 403) -> dict[str, int]:
    """`ok` for the allowed callers, `refused` for the other callers who can see the project."""
    seen = {"owner", "view", "edit", "admin", "platform_admin"}
    return {c: (ok if c in allowed else refused) for c in seen} | HIDDEN


EDITORS = {"owner", "edit", "admin", "platform_admin"}
SHARERS = {"owner", "admin", "platform_admin"}

# Calls that change what later callers would see get a fresh project per caller.
DESTRUCTIVE = {"delete project", "revoke access", "delete someone's annotation"}

CASES: dict[str, tuple[Call, dict[str, int]]] = {
    "list projects": (
        _req("GET", "/api/projects"),
        {c: 200 for c in CALLERS if c != "anonymous"} | {"anonymous": 401},
    ),
    "get project": (_req("GET", "/api/projects/{p}"), READERS | HIDDEN),
    "update project": (
        _req("PATCH", "/api/projects/{p}", json={"title": "Renamed"}),
        _only(200, EDITORS),
    ),
    "delete project": (_req("DELETE", "/api/projects/{p}"), _only(204, {"owner"})),
    "confirm upload": (_req("POST", "/api/projects/{p}/confirm"), _only(200, {"owner"})),
    "grant access": (
        _req(
            "POST",
            "/api/projects/{p}/access",
            json=lambda w: {"user_id": w.bystander.id, "level": "edit"},
        ),
        _only(200, SHARERS),
    ),
    "list access": (_req("GET", "/api/projects/{p}/access"), READERS | HIDDEN),
    "revoke access": (
        _req("DELETE", "/api/projects/{p}/access/{b}"),
        _only(204, SHARERS),
    ),
    "stream authorization": (
        _req(
            "GET",
            "/api/projects/{p}/stream-authorization",
            headers={"X-Origin-Secret": ORIGIN_SECRET},
        ),
        READERS | HIDDEN,
    ),
    "create annotation": (
        _req(
            "POST",
            "/api/annotations",
            json=lambda w: {"project_id": w.project_id, "page": 1, "type": "note", "content": NOTE},
        ),
        {c: 201 for c in READERS} | HIDDEN,
    ),
    "list annotations": (_req("GET", "/api/annotations?project_id={p}&page=2"), READERS | HIDDEN),
    "get annotation": (_req("GET", "/api/annotations/{a}"), READERS | HIDDEN),
    "update someone's annotation": (
        _req("PATCH", "/api/annotations/{a}", json={"page": 3}),
        _only(200, EDITORS),
    ),
    "delete someone's annotation": (
        _req("DELETE", "/api/annotations/{a}"),
        _only(204, EDITORS),
    ),
}


def _cast(accounts: Accounts) -> dict[str, Account]:
    roles = {"owner": "student", "view": "teacher", "edit": "student", "admin": "teacher"}
    cast = {name: accounts.create(role, name) for name, role in roles.items()}
    cast["other"] = accounts.create("teacher", "other")
    cast["platform_admin"] = accounts.create("admin", "platform-admin")
    cast["bystander"] = accounts.create("student", "bystander")
    return cast


@pytest.fixture
def cast(accounts: Accounts) -> dict[str, Account]:
    return _cast(accounts)


def test_authorization_matrix(client: httpx.Client, cast: dict[str, Account]) -> None:
    """One test for the whole table (accounts are slow to make); every mismatch is reported."""
    shared = _world(client, cast, cast["bystander"])
    got: dict[str, dict[str, int]] = {}
    for endpoint, (call, expected) in CASES.items():
        assert set(expected) == set(CALLERS), endpoint
        got[endpoint] = {}
        for caller in CALLERS:
            world = _world(client, cast, cast["bystander"]) if endpoint in DESTRUCTIVE else shared
            got[endpoint][caller] = call(world, caller).status_code
    wrong = {
        endpoint: {
            c: (got[endpoint][c], want) for c, want in expected.items() if got[endpoint][c] != want
        }
        for endpoint, (_, expected) in CASES.items()
    }
    wrong = {k: v for k, v in wrong.items() if v}
    assert not wrong, f"(got, expected) per caller: {wrong}"


def test_lists_show_only_what_the_caller_may_see(
    client: httpx.Client, accounts: Accounts, cast: dict[str, Account]
) -> None:
    world = _world(client, cast, cast["bystander"])
    teacher, student = accounts.create("teacher"), accounts.create("student")
    accounts.link(teacher, student)
    private = ready_project(client, student)

    def ids(caller: Account, query: str = "") -> set[str]:
        r = client.get(f"/api/projects{query}", headers=caller.headers)
        assert r.status_code == 200, r.text
        return {p["id"] for p in r.json()["items"]}

    assert ids(cast["view"]) == {world.project_id}
    assert ids(cast["other"]) == set()
    assert ids(teacher) == set()  # a linked teacher sees nothing until the student shares
    share(client, student, private, teacher, "view")
    assert ids(teacher) == {private}
    assert ids(cast["owner"], "?ownership=owned") == {world.project_id}
    assert ids(cast["owner"], "?ownership=shared") == set()
    assert ids(cast["platform_admin"]) >= {world.project_id, private}
    assert ids(cast["platform_admin"], "?ownership=owned") == set()


def test_pagination_of_projects(client: httpx.Client, accounts: Accounts) -> None:
    owner = accounts.create("teacher")
    for i in range(5):
        r = client.post(
            "/api/projects",
            json={"title": f"P{i}", "filename": "p.pdf", "file_size": 1000},
            headers=owner.headers,
        )
        assert r.status_code == 201
    r = client.get("/api/projects?page=2&page_size=2", headers=owner.headers).json()
    assert r["total"] == 5 and len(r["items"]) == 2 and r["page"] == 2
    bad = client.get("/api/projects?page_size=101", headers=owner.headers)
    assert bad.status_code == 422


def test_sharing_rules(client: httpx.Client, accounts: Accounts, cast: dict[str, Account]) -> None:
    world = _world(client, cast, cast["bystander"])
    p, owner, admin = world.project_id, cast["owner"], cast["admin"]
    r = client.delete(f"/api/projects/{p}/access/{owner.id}", headers=admin.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "owner_not_revocable"
    r = client.post(
        f"/api/projects/{p}/access",
        json={"user_id": owner.id, "level": "view"},
        headers=admin.headers,
    )
    assert r.status_code == 409
    r = client.post(
        f"/api/projects/{p}/access",
        json={"user_id": "00000000-0000-0000-0000-000000000000", "level": "view"},
        headers=owner.headers,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = client.post(
        f"/api/projects/{p}/access",
        json={"user_id": cast["view"].id, "level": "owner"},
        headers=owner.headers,
    )
    assert r.status_code == 422
    listing = client.get(f"/api/projects/{p}/access", headers=cast["view"].headers).json()
    assert listing[0] == listing[0] | {"user_id": owner.id, "level": "owner"}
    assert {e["user_id"]: e["level"] for e in listing}[cast["edit"].id] == "edit"
    # Revoked users lose sight of the project.
    r = client.delete(f"/api/projects/{p}/access/{cast['view'].id}", headers=owner.headers)
    assert r.status_code == 204
    assert client.get(f"/api/projects/{p}", headers=cast["view"].headers).status_code == 404


def test_authors_manage_their_own_annotations_with_view_rights(
    client: httpx.Client, accounts: Accounts, cast: dict[str, Account]
) -> None:
    world = _world(client, cast, cast["bystander"])
    viewer = cast["view"]
    r = client.post(
        "/api/annotations",
        json={"project_id": world.project_id, "page": 3, "type": "note", "content": NOTE},
        headers=viewer.headers,
    )
    assert r.status_code == 201
    mine = r.json()["id"]
    r = client.patch(
        f"/api/annotations/{mine}",
        json={"content": {"text": "new", "position": {"x": 1, "y": 2}}},
        headers=viewer.headers,
    )
    assert r.status_code == 200 and r.json()["content"]["text"] == "new"
    other_viewer = cast["bystander"]
    assert (
        client.delete(f"/api/annotations/{mine}", headers=other_viewer.headers).status_code == 403
    )
    assert client.delete(f"/api/annotations/{mine}", headers=viewer.headers).status_code == 204
