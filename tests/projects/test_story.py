"""The issue's "done when" story, end to end over HTTP: the walk-through in docs/projects.md as a test."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.factories import Accounts
from tests.projects.conftest import upload


def test_teacher_shares_a_score_and_the_student_annotates_page_3(
    client: httpx.Client, accounts: Accounts, scan_pdf: Path
) -> None:
    teacher, student = accounts.create("teacher"), accounts.create("student")
    accounts.link(teacher, student)

    created = client.post(
        "/api/projects",
        json={
            "title": "Great Pianists (Cooke 1913)",
            "filename": "cooke 1913.pdf",
            "file_size": scan_pdf.stat().st_size,
        },
        headers=teacher.headers,
    ).json()
    project_id = created["project"]["id"]
    assert upload(created["upload_url"], scan_pdf.read_bytes()).status_code == 200
    ready = client.post(f"/api/projects/{project_id}/confirm", headers=teacher.headers).json()
    assert ready["status"] == "ready" and ready["page_count"] == 38

    # Before sharing, the linked student can't see it.
    assert client.get(f"/api/projects/{project_id}", headers=student.headers).status_code == 404
    r = client.post(
        f"/api/projects/{project_id}/access",
        json={"user_id": student.id, "level": "view"},
        headers=teacher.headers,
    )
    assert r.status_code == 200

    detail = client.get(f"/api/projects/{project_id}", headers=student.headers)
    assert detail.status_code == 200 and detail.json()["access"] == "view"
    assert httpx.get(detail.json()["download_url"]).content == scan_pdf.read_bytes()

    note = {"text": "Ask about this quote", "position": {"x": 72, "y": 140}}
    r = client.post(
        "/api/annotations",
        json={"project_id": project_id, "page": 3, "type": "note", "content": note},
        headers=student.headers,
    )
    assert r.status_code == 201, r.text
    seen = client.get(f"/api/annotations?project_id={project_id}&page=3", headers=teacher.headers)
    assert [a["author_id"] for a in seen.json()["items"]] == [student.id]

    r = client.delete(f"/api/projects/{project_id}", headers=student.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_access"
    assert client.get(f"/api/projects/{project_id}", headers=teacher.headers).status_code == 200
