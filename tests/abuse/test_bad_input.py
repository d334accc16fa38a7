"""NUL and other control characters: refused (422) in names and titles, stripped from free text,
never a 500. And whatever PostgreSQL still refuses is a 4xx, through the one error mapping."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from devtools.live_server import LiveServer
from service.app import create_app
from tests.conftest import ApiSettings
from tests.factories import PASSWORD, Accounts
from tests.projects.conftest import ready_project

NUL = "\u0000"


def _refused(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["request_id"]
    assert any(d["type"] == "control_characters" and d["loc"][-1] == field for d in err["details"])


def test_register_refuses_nul_in_display_name(client: httpx.Client) -> None:
    body = {"email": "n@example.com", "password": PASSWORD, "display_name": f"Cl{NUL}ara"}
    _refused(client.post("/api/auth/register", json={**body, "role": "teacher"}), "display_name")
    r = client.post(
        "/api/auth/register", json={**body, "display_name": "Line\nbreak", "role": "student"}
    )
    _refused(r, "display_name")


def test_login_with_nul_in_email_is_a_4xx(client: httpx.Client) -> None:
    r = client.post("/api/auth/login", json={"email": f"a{NUL}@example.com", "password": "x"})
    assert r.status_code == 422


def test_titles_refuse_and_free_text_strips(client: httpx.Client, accounts: Accounts) -> None:
    teacher = accounts.create("teacher")
    h = teacher.headers
    # Chat session titles: refused.
    _refused(client.post("/api/chat/sessions", json={"title": f"a{NUL}b"}, headers=h), "title")
    session = client.post("/api/chat/sessions", json={"title": "Scales"}, headers=h).json()
    # Chat messages: NUL stripped, the rest kept as sent.
    r = client.post(
        "/api/chat/messages",
        json={"session_id": session["id"], "content": f"line one{NUL}\nline\ttwo"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["content"] == "line one\nline\ttwo"
    # Only NULs: empty once stripped, so too short.
    r = client.post(
        "/api/chat/messages", json={"session_id": session["id"], "content": NUL * 3}, headers=h
    )
    assert r.status_code == 422
    # Project titles refused; descriptions stripped.
    r = client.post(
        "/api/projects",
        json={"title": f"x{NUL}", "filename": "a.pdf", "file_size": 1000},
        headers=h,
    )
    _refused(r, "title")
    r = client.post(
        "/api/projects",
        json={
            "title": "Etudes",
            "filename": "a.pdf",
            "description": f"op.{NUL} 10",
            "file_size": 1000,
        },
        headers=h,
    )
    assert r.status_code == 201 and r.json()["project"]["description"] == "op. 10"
    r = client.post(
        "/api/projects",
        json={"title": "x", "filename": f"a{NUL}.pdf", "file_size": 1000},
        headers=h,
    )
    _refused(r, "filename")
    # Knowledge titles and URLs refused.
    web = {"source_type": "web", "url": "https://example.com/a"}
    r = client.post("/api/knowledge", json={**web, "title": f"t{NUL}"}, headers=h)
    _refused(r, "title")
    r = client.post(
        "/api/knowledge", json={**web, "title": "t", "url": f"https://e.com/{NUL}"}, headers=h
    )
    _refused(r, "url")


def test_annotation_note_text_strips_nul(client: httpx.Client, accounts: Accounts) -> None:
    owner = accounts.create("teacher")
    project_id = ready_project(client, owner)
    note = {"text": f"Watch the {NUL}tempo", "position": {"x": 10, "y": 10}}
    r = client.post(
        "/api/annotations",
        json={"project_id": project_id, "page": 1, "type": "note", "content": note},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["content"]["text"] == "Watch the tempo"
    r = client.patch(
        f"/api/annotations/{r.json()['id']}",
        json={"content": {**note, "text": f"{NUL}ok"}},
        headers=owner.headers,
    )
    assert r.status_code == 200 and r.json()["content"]["text"] == "ok"


def test_query_strips_nul(client: httpx.Client, accounts: Accounts) -> None:
    """The question reaches the search (and the stored session) without its NUL; no 500."""
    student = accounts.create("student")
    session = client.post("/api/chat/sessions", json={}, headers=student.headers).json()
    r = client.post(
        "/api/chat/query",
        json={"query": f"scales{NUL}?", "session_id": session["id"]},
        headers=student.headers,
    )
    assert r.status_code == 200, r.text
    stored = client.get(f"/api/chat/sessions/{session['id']}", headers=student.headers).json()
    assert stored["messages"][0]["content"] == "scales?"


@pytest.fixture(scope="module")
def raising_api(api_settings: ApiSettings) -> Iterator[str]:
    """The real app plus one route that hits PostgreSQL with what it refuses."""
    settings = api_settings()
    app: FastAPI = create_app(settings)

    @app.get("/test/refused-by-postgres/{kind}")
    async def refused(kind: str) -> dict[str, str]:
        async with await psycopg.AsyncConnection.connect(settings.db.url) as conn:
            if kind == "nul":
                await conn.execute("SELECT %s::text", (f"a{NUL}b",))
            elif kind == "range":
                await conn.execute("SELECT 2147483648::int4")
            else:
                await conn.execute(
                    "CREATE TEMP TABLE t (n int CHECK (n > 0)); INSERT INTO t VALUES (-1)"
                )
        return {"unreachable": kind}

    with LiveServer(app) as server:
        yield server.url


@pytest.mark.parametrize("kind", ["nul", "range", "check"])
def test_whatever_postgres_refuses_is_422_not_500(raising_api: str, kind: str) -> None:
    r = httpx.get(f"{raising_api}/test/refused-by-postgres/{kind}", headers={"X-Request-ID": "r1"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "invalid_value",
        "message": "A value in the request can't be stored.",
        "request_id": "r1",
    }
