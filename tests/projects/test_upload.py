"""Upload, confirm, download and delete over real HTTP against the S3 server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.core.config import Settings
from service.storage import ObjectChanged, ObjectStore, upload_key
from tests.conftest import Api, LiveServer, StartApi
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
    """The project's objects: its final key and anything at its upload key."""
    store = ObjectStore(settings)
    prefix = f"projects/{project['owner_id']}/{project['id']}/"
    bucket = settings.storage.bucket_projects
    return store.list_keys(bucket, prefix) + store.list_keys(bucket, upload_key(prefix))


def test_upload_round_trip_of_the_38_page_scan(
    client: httpx.Client, accounts: Accounts, scan_pdf: Path, live_api: Api
) -> None:
    owner = accounts.create("teacher")
    r = client.post(
        "/api/projects",
        json={
            "title": "Cooke 1913",
            "filename": "Cooke 1913 (scans).pdf",
            "description": "pp 3-40",
            "file_size": scan_pdf.stat().st_size,
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    project = created["project"]
    assert project["status"] == "pending" and project["filename"] == "Cooke-1913-scans.pdf"
    assert created["upload"]["upload_headers"] == {
        "Content-Type": "application/pdf",
        "Content-Length": str(scan_pdf.stat().st_size),
    }
    assert "X-Amz-Expires=3600" in created["upload_url"]
    assert "X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost" in created["upload_url"]

    data = scan_pdf.read_bytes()
    put = upload(created["upload_url"], data)
    assert put.status_code == 200, put.text

    r = client.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert r.status_code == 200, r.text
    ready = r.json()
    assert ready["status"] == "ready"
    assert ready["page_count"] == 38
    assert ready["file_size"] == len(data)
    assert ready["pdf_title"].startswith("Great Pianists on Piano Playing")

    again = client.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert again.status_code == 200 and again.json()["page_count"] == 38

    detail = client.get(f"/api/projects/{project['id']}", headers=owner.headers).json()
    assert detail["download_url"] and detail["download_expires_at"]
    downloaded = httpx.get(detail["download_url"], timeout=60)
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert _keys(live_api.settings, project) == [
        f"projects/{owner.id}/{project['id']}/Cooke-1913-scans.pdf"
    ]


def _bad_upload_case(case: str) -> tuple[bytes | None, str, str]:
    pdf = "application/pdf"
    if case == "not_a_pdf":
        return b"PK\x03\x04 this is a zip, not a PDF" * 10, pdf, "not_a_pdf"
    if case == "wrong_content_type":
        return small_pdf(), "text/plain", "wrong_content_type"
    if case == "too_large":
        return b"%PDF-1.7\n" + b"0" * UPLOAD_LIMIT, pdf, "file_too_large"
    if case == "missing":
        return None, pdf, "upload_missing"
    corrupt = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ngarbage\n%%EOF"
    return corrupt, pdf, "pdf_corrupt"


def _padded_pdf(size: int) -> bytes:
    """A valid PDF of exactly `size` bytes (trailing newlines after %%EOF are harmless)."""
    pdf = small_pdf(3)
    assert len(pdf) <= size
    return pdf + b"\n" * (size - len(pdf))


@pytest.mark.parametrize(
    "case", ["not_a_pdf", "wrong_content_type", "too_large", "missing", "corrupt"]
)
def test_bad_uploads_get_their_code_and_leave_nothing(
    client: httpx.Client, accounts: Accounts, live_api: Api, case: str
) -> None:
    owner = accounts.create("student")
    data, content_type, code = _bad_upload_case(case)
    size = len(data) if data is not None and case != "too_large" else len(small_pdf(3))
    created = create_project(client, owner, size=max(size, len(small_pdf(3))))
    project = created["project"]
    if data is not None:
        if case in ("not_a_pdf", "corrupt"):
            data = data + b" " * (max(size, len(small_pdf(3))) - len(data))
            assert upload(created["upload_url"], data, content_type).is_success
        else:
            # The store refuses these through the URL (signed type and length); a writer with
            # the bucket's keys could still put them there, and confirm catches that too.
            assert upload(created["upload_url"], data, content_type).status_code == 403
            settings = live_api.settings
            key = upload_key(f"projects/{owner.id}/{project['id']}/scales.pdf")
            ObjectStore(settings).put_bytes(
                settings.storage.bucket_projects, key, data, content_type
            )
        assert len(_keys(live_api.settings, project)) == 1
    r = client.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert _keys(live_api.settings, project) == []
    still = client.get(f"/api/projects/{project['id']}", headers=owner.headers).json()
    assert still["status"] == "pending" and still["download_url"] is None

    # The same URL can be used again with a good file of the signed size.
    good = _padded_pdf(max(size, len(small_pdf(3))))
    assert upload(created["upload_url"], good).is_success
    r = client.post(f"/api/projects/{project['id']}/confirm", headers=owner.headers)
    assert r.status_code == 200 and r.json()["page_count"] == 3


def test_the_store_refuses_a_body_of_another_length_than_signed(
    client: httpx.Client, accounts: Accounts, live_api: Api
) -> None:
    """The size is bound when the URL is signed: the local store verifies SigV4 as R2 does."""
    owner = accounts.create("teacher")
    pdf = small_pdf()
    created = create_project(client, owner, size=len(pdf))
    for body in (pdf + b"\n" * 1000, pdf[:-10]):
        r = upload(created["upload_url"], body)
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text
    assert _keys(live_api.settings, created["project"]) == []
    # Declaring more than the limit is refused before any URL is signed.
    r = client.post(
        "/api/projects",
        json={"title": "Big", "filename": "big.pdf", "file_size": UPLOAD_LIMIT + 1},
        headers=owner.headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "file_too_large"
    assert upload(created["upload_url"], pdf).is_success


def test_a_confirmed_file_cannot_be_replaced_through_its_upload_url(
    client: httpx.Client, accounts: Accounts, live_api: Api
) -> None:
    owner = accounts.create("teacher")
    pdf = small_pdf(2)
    created = create_project(client, owner, size=len(pdf))
    project_id = created["project"]["id"]
    assert upload(created["upload_url"], pdf).is_success
    assert client.post(f"/api/projects/{project_id}/confirm", headers=owner.headers).is_success
    grant = client.get(
        f"/api/projects/{project_id}/stream-authorization",
        headers={**owner.headers, "X-Origin-Secret": ORIGIN_SECRET},
    ).json()

    # The URL is still within its hour: the owner PUTs something else of the same length.
    other = b"%PDF-1.4 not what was checked".ljust(len(pdf), b"!")
    assert upload(created["upload_url"], other).is_success
    settings = live_api.settings
    store = ObjectStore(settings)
    served = store.head(settings.storage.bucket_projects, grant["key"])
    assert served is not None and served.etag == grant["etag"], "the served object is unchanged"
    detail = client.get(f"/api/projects/{project_id}", headers=owner.headers).json()
    assert httpx.get(detail["download_url"]).content == pdf
    assert grant["key"] == f"projects/{owner.id}/{project_id}/scales.pdf"


def test_a_copy_of_a_version_that_changed_since_its_check_is_refused(live_api: Api) -> None:
    """Confirm copies only the version it checked (CopySourceIfMatch on its ETag): an upload
    replaced between check and copy answers 409 upload_changed, never an unchecked file."""
    settings = live_api.settings
    store = ObjectStore(settings)
    bucket = settings.storage.bucket_projects
    first = store.put_bytes(bucket, "uploads/race/a.pdf", small_pdf(1), "application/pdf")
    store.put_bytes(bucket, "uploads/race/a.pdf", small_pdf(2), "application/pdf")
    with pytest.raises(ObjectChanged):
        store.copy(bucket, "uploads/race/a.pdf", "projects/race/a.pdf", if_etag=first.etag)
    assert store.head(bucket, "projects/race/a.pdf") is None


def test_delete_removes_file_annotations_and_access(
    client: httpx.Client, accounts: Accounts, live_api: Api, clean_db: str
) -> None:
    owner, student = accounts.create("teacher"), accounts.create("student")
    project_id = ready_project(client, owner)
    share(client, owner, project_id, student, "view")
    r = client.post(
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
    project = client.get(f"/api/projects/{project_id}", headers=owner.headers).json()
    assert len(_keys(live_api.settings, project)) == 1

    assert client.delete(f"/api/projects/{project_id}", headers=owner.headers).status_code == 204
    assert _keys(live_api.settings, project) == []
    assert client.get(f"/api/projects/{project_id}", headers=owner.headers).status_code == 404
    import psycopg

    with psycopg.connect(clean_db) as conn:
        for table in ("project_access", "annotations"):
            n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            assert n == (0,), table


def test_delete_with_storage_down_keeps_the_project(
    client: httpx.Client, accounts: Accounts, live_api: Api
) -> None:
    owner = accounts.create("student")
    project_id = ready_project(client, owner)
    broken = live_api.settings.model_copy(
        update={"s3_endpoint_url": "http://127.0.0.1:9", "s3_max_attempts": 2}
    )
    with LiveServer(create_app(broken)) as down:
        r = httpx.delete(f"{down.url}/api/projects/{project_id}", headers=owner.headers)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "storage_unavailable"
    detail = client.get(f"/api/projects/{project_id}", headers=owner.headers)
    assert detail.status_code == 200 and detail.json()["status"] == "ready"
    assert httpx.get(detail.json()["download_url"]).status_code == 200
    # A retry against working storage completes the delete.
    assert client.delete(f"/api/projects/{project_id}", headers=owner.headers).status_code == 204


def test_stream_authorization_for_the_edge_worker(client: httpx.Client, accounts: Accounts) -> None:
    owner, stranger = accounts.create("teacher"), accounts.create("student")
    project_id = ready_project(client, owner)
    url = f"/api/projects/{project_id}/stream-authorization"
    ok = client.get(url, headers={**owner.headers, "X-Origin-Secret": ORIGIN_SECRET})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["bucket_binding"] == "PDF_BUCKET"
    assert body["key"] == f"projects/{owner.id}/{project_id}/scales.pdf"
    assert body["content_type"] == "application/pdf" and body["size"] > 0 and body["etag"]
    assert client.get(url, headers=owner.headers).status_code == 401
    assert client.get(url, headers={**owner.headers, "X-Origin-Secret": "nope"}).status_code == 403
    assert client.get(url, headers={"X-Origin-Secret": ORIGIN_SECRET}).status_code == 401
    other = client.get(url, headers={**stranger.headers, "X-Origin-Secret": ORIGIN_SECRET})
    assert other.status_code == 404
    pending = create_project(client, owner)["project"]["id"]
    r = client.get(
        f"/api/projects/{pending}/stream-authorization",
        headers={**owner.headers, "X-Origin-Secret": ORIGIN_SECRET},
    )
    assert r.status_code == 409


def test_stream_authorization_is_off_without_a_secret(
    start_api: StartApi, settings: Settings, clean_db: str
) -> None:
    """The default test settings have no ORIGIN_SHARED_SECRET, unlike this suite's API."""
    assert not settings.origin.shared_secret.get_secret_value()
    without_secret = start_api(settings)
    with httpx.Client(base_url=without_secret.url, timeout=60) as client:
        owner = Accounts(client, clean_db).create("teacher")
        created = create_project(client, owner)
        r = client.get(
            f"/api/projects/{created['project']['id']}/stream-authorization",
            headers={**owner.headers, "X-Origin-Secret": "anything"},
        )
    assert r.status_code == 404 and r.json()["error"]["code"] == "feature_disabled"
