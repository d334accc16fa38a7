"""Upload, confirm, download and delete over real HTTP against the S3 server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.core.config import Settings
from service.storage import ObjectStore
from tests.conftest import LiveServer
from tests.factories import Accounts
from tests.projects.conftest import (
    ORIGIN_SECRET,
    UPLOAD_LIMIT,
    create_project,
    ready_project,
    share,
    small_pdf,
    upload,
)


def _keys(settings: Settings, project: dict) -> list[str]:
    store = ObjectStore(settings)
    prefix = f"projects/{project['owner_id']}/{project['id']}/"
    return store.list_keys(settings.s3_bucket_projects, prefix)


def test_upload_round_trip_of_the_38_page_scan(
    http: httpx.Client, people: Accounts, scan_pdf: Path, projects_settings: Settings
) -> None:
    owner = people.create("teacher")
    r = http.post(
        "/api/projects",
        json={
            "title": "Cooke 1913",
            "filename": "Cooke 1913 (scans).pdf",
            "description": "pp 3-40",
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    project = created["project"]
    assert project["status"] == "pending" and project["filename"] == "Cooke-1913-scans.pdf"
    assert created["upload"]["upload_headers"] == {"Content-Type": "application/pdf"}
    assert "X-Amz-Expires=3600" in created["upload_url"]

    data = scan_pdf.read_bytes()
    put = upload(created["upload_url"], data)
    assert put.status_code == 200, put.text

    r = http.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert r.status_code == 200, r.text
    ready = r.json()
    assert ready["status"] == "ready"
    assert ready["page_count"] == 38
    assert ready["file_size"] == len(data)
    assert ready["pdf_title"].startswith("Great Pianists on Piano Playing")

    again = http.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert again.status_code == 200 and again.json()["page_count"] == 38

    detail = http.get(f"/api/projects/{project['id']}", headers=owner.headers).json()
    assert detail["download_url"] and detail["download_expires_at"]
    downloaded = httpx.get(detail["download_url"], timeout=60)
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert _keys(projects_settings, project) == [
        f"projects/{owner.id}/{project['id']}/Cooke-1913-scans.pdf"
    ]


def _bad_upload_case(case: str) -> tuple[bytes | None, str]:
    if case == "not_a_pdf":
        return b"PK\x03\x04 this is a zip, not a PDF" * 10, "not_a_pdf"
    if case == "too_large":
        return b"%PDF-1.7\n" + b"0" * UPLOAD_LIMIT, "file_too_large"
    if case == "missing":
        return None, "upload_missing"
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ngarbage\n%%EOF", "pdf_corrupt"


@pytest.mark.parametrize("case", ["not_a_pdf", "too_large", "missing", "corrupt"])
def test_bad_uploads_get_their_code_and_leave_nothing(
    http: httpx.Client, people: Accounts, projects_settings: Settings, case: str
) -> None:
    owner = people.create("student")
    created = create_project(http, owner)
    project = created["project"]
    data, code = _bad_upload_case(case)
    if data is not None:
        assert upload(created["upload_url"], data).is_success
        assert len(_keys(projects_settings, project)) == 1
    r = http.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert _keys(projects_settings, project) == []
    still = http.get(f"/api/projects/{project['id']}", headers=owner.headers).json()
    assert still["status"] == "pending" and still["download_url"] is None

    # The same URL can be used again with a good file.
    assert upload(created["upload_url"], small_pdf(3)).is_success
    r = http.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert r.status_code == 200 and r.json()["page_count"] == 3


def test_delete_removes_file_annotations_and_access(
    http: httpx.Client, people: Accounts, projects_settings: Settings, clean_db: str
) -> None:
    owner, student = people.create("teacher"), people.create("student")
    project_id = ready_project(http, owner)
    share(http, owner, project_id, student, "view")
    r = http.post(
        "/api/annotations",
        json={
            "project_id": project_id,
            "page": 1,
            "type": "note",
            "content": {"text": "x", "position": {"x": 1, "y": 1}},
        },
        headers=student.headers,
    )
    assert r.status_code == 201
    project = http.get(f"/api/projects/{project_id}", headers=owner.headers).json()
    assert len(_keys(projects_settings, project)) == 1

    assert http.delete(f"/api/projects/{project_id}", headers=owner.headers).status_code == 204
    assert _keys(projects_settings, project) == []
    assert http.get(f"/api/projects/{project_id}", headers=owner.headers).status_code == 404
    import psycopg

    with psycopg.connect(clean_db) as conn:
        for table in ("project_access", "annotations"):
            n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            assert n == (0,), table


def test_delete_with_storage_down_keeps_the_project(
    http: httpx.Client, people: Accounts, projects_settings: Settings
) -> None:
    owner = people.create("student")
    project_id = ready_project(http, owner)
    broken = projects_settings.model_copy(
        update={"s3_endpoint_url": "http://127.0.0.1:9", "s3_max_attempts": 2}
    )
    with LiveServer(create_app(broken)) as down:
        r = httpx.delete(f"{down.url}/api/projects/{project_id}", headers=owner.headers)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "storage_unavailable"
    detail = http.get(f"/api/projects/{project_id}", headers=owner.headers)
    assert detail.status_code == 200 and detail.json()["status"] == "ready"
    assert httpx.get(detail.json()["download_url"]).status_code == 200
    # A retry against working storage completes the delete.
    assert http.delete(f"/api/projects/{project_id}", headers=owner.headers).status_code == 204


def test_stream_authorization_for_the_edge_worker(http: httpx.Client, people: Accounts) -> None:
    owner, stranger = people.create("teacher"), people.create("student")
    project_id = ready_project(http, owner)
    url = f"/api/projects/{project_id}/stream-authorization"
    ok = http.get(url, headers={**owner.headers, "X-Origin-Secret": ORIGIN_SECRET})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["bucket_binding"] == "PDF_BUCKET"
    assert body["key"] == f"projects/{owner.id}/{project_id}/scales.pdf"
    assert body["content_type"] == "application/pdf" and body["size"] > 0 and body["etag"]
    assert http.get(url, headers=owner.headers).status_code == 401
    assert http.get(url, headers={**owner.headers, "X-Origin-Secret": "nope"}).status_code == 403
    assert http.get(url, headers={"X-Origin-Secret": ORIGIN_SECRET}).status_code == 401
    other = http.get(url, headers={**stranger.headers, "X-Origin-Secret": ORIGIN_SECRET})
    assert other.status_code == 404
    pending = create_project(http, owner)["project"]["id"]
    r = http.get(
        f"/api/projects/{pending}/stream-authorization",
        headers={**owner.headers, "X-Origin-Secret": ORIGIN_SECRET},
    )
    assert r.status_code == 409


def test_stream_authorization_is_off_without_a_secret(
    client: httpx.Client, accounts: Accounts
) -> None:
    owner = accounts.create("teacher")
    created = create_project(client, owner)
    r = client.get(
        f"/api/projects/{created['project']['id']}/stream-authorization",
        headers={**owner.headers, "X-Origin-Secret": "anything"},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "feature_disabled"
