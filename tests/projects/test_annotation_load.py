"""A page full of the largest drawings must not stall the API for anyone else: content is
validated in a worker thread, lists are rendered by PostgreSQL, and points per page are capped."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from service.models.annotations import MAX_POINTS_PER_PAGE, MAX_POINTS_TOTAL
from tests.factories import Accounts
from tests.projects.conftest import ready_project, small_pdf

DRAWINGS = 100


def _drawing(points: int = MAX_POINTS_TOTAL) -> dict[str, Any]:
    per_stroke = 2000
    return {
        "strokes": [
            {
                "points": [{"x": (i * 7) % 595, "y": (i * 13) % 842} for i in range(per_stroke)],
                "width": 1.5,
                "color": "#112233",
            }
            for _ in range(points // per_stroke)
        ]
    }


class Pinger:
    """Measures how long /api/health takes while something heavy runs: the event loop's
    responsiveness as a client sees it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                http.get("/api/health")
                self.latencies.append(time.perf_counter() - started)
                time.sleep(0.02)

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_a_hundred_maximal_drawings_list_without_stalling_the_loop(
    client: httpx.Client, accounts: Accounts, clean_db: str
) -> None:
    owner = accounts.create("teacher")
    project_id = ready_project(client, owner, small_pdf(pages=40))
    drawing = _drawing()
    per_page = MAX_POINTS_PER_PAGE // MAX_POINTS_TOTAL
    with psycopg.connect(clean_db, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO annotations (project_id, author_id, page, type, content) "
                "VALUES (%s, %s, %s, 'drawing', %s)",
                [
                    (project_id, owner.id, 1 + i // per_page, Jsonb(drawing))
                    for i in range(DRAWINGS)
                ],
            )

    # The API runs in this process (LiveServer), so the client only collects raw bytes while the
    # probe runs: parsing 50 MB of JSON here would hold the GIL and look like a stalled server.
    raw = bytearray()
    with Pinger(str(client.base_url)) as pinger:
        started = time.perf_counter()
        with client.stream(
            "GET",
            "/api/annotations",
            params={"project_id": project_id, "page_size": DRAWINGS},
            headers=owner.headers,
        ) as r:
            for chunk in r.iter_raw():
                raw.extend(chunk)
        elapsed = time.perf_counter() - started
    assert r.status_code == 200
    body = json.loads(raw)
    assert body["total"] == DRAWINGS and len(body["items"]) == DRAWINGS
    assert sum(len(s["points"]) for s in body["items"][0]["content"]["strokes"]) == MAX_POINTS_TOTAL
    assert elapsed < 15, f"listing took {elapsed:.1f} s"
    assert pinger.latencies, "the health probe never answered"
    worst = max(pinger.latencies)
    assert worst < 0.5, f"event loop stalled: /api/health took {worst:.2f} s during the list"


def test_creating_a_maximal_drawing_keeps_the_loop_free(
    client: httpx.Client, accounts: Accounts
) -> None:
    owner = accounts.create("teacher")
    project_id = ready_project(client, owner)
    body = json.dumps(
        {"project_id": project_id, "page": 1, "type": "drawing", "content": _drawing()}
    )
    headers = {**owner.headers, "Content-Type": "application/json"}
    with Pinger(str(client.base_url)) as pinger:
        for _ in range(3):
            r = client.post("/api/annotations", content=body, headers=headers)
            assert r.status_code == 201, r.text[:300]
    assert max(pinger.latencies) < 0.5, pinger.latencies


def test_points_per_page_are_capped(client: httpx.Client, accounts: Accounts) -> None:
    owner = accounts.create("teacher")
    project_id = ready_project(client, owner)
    body = {"project_id": project_id, "page": 2, "type": "drawing", "content": _drawing()}
    for _ in range(MAX_POINTS_PER_PAGE // MAX_POINTS_TOTAL):
        assert client.post("/api/annotations", json=body, headers=owner.headers).status_code == 201
    r = client.post("/api/annotations", json=body, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "page_points_exceeded", r.text
    # Another page has its own budget; a small drawing that fits still goes in elsewhere.
    r = client.post("/api/annotations", json={**body, "page": 3}, headers=owner.headers)
    assert r.status_code == 201
    # Moving a drawing onto the full page is refused the same way.
    moved = client.patch(
        f"/api/annotations/{r.json()['id']}", json={"page": 2}, headers=owner.headers
    )
    assert moved.status_code == 422 and moved.json()["error"]["code"] == "page_points_exceeded"


def test_invalid_content_reports_where(client: httpx.Client, accounts: Accounts) -> None:
    owner = accounts.create("teacher")
    project_id = ready_project(client, owner)
    bad = _drawing(2000)
    bad["strokes"][0]["points"][5]["x"] = -1
    r = client.post(
        "/api/annotations",
        json={"project_id": project_id, "page": 1, "type": "drawing", "content": bad},
        headers=owner.headers,
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert err["details"][0]["loc"] == ["body", "content", "strokes", 0, "points", 5, "x"]
    assert str(uuid.UUID(project_id)) == project_id
