"""A projects API with a small upload limit and the edge secret set, and helpers to make projects."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from pypdf import PdfWriter

from tests.conftest import Api, ApiSettings, StartApi
from tests.factories import Account

UPLOAD_LIMIT = 3 * 1024 * 1024  # above the 1.9 MB scan, so oversize tests stay small
ORIGIN_SECRET = "edge-origin-secret"


def small_pdf(pages: int = 5, title: str | None = "Scales in C") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if title:
        writer.add_metadata({"/Title": title})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@pytest.fixture(scope="session")
def live_api(start_api: StartApi, api_settings: ApiSettings) -> Api:
    return start_api(
        api_settings(upload_max_bytes=UPLOAD_LIMIT, origin_shared_secret=ORIGIN_SECRET)
    )


def create_project(
    http: httpx.Client, owner: Account, title: str = "Scales", size: int | None = None
) -> dict[str, Any]:
    """A pending project whose upload URL takes exactly `size` bytes (default: small_pdf())."""
    request = {"title": title, "filename": "scales.pdf", "file_size": size or len(small_pdf())}
    r = http.post("/api/projects", json=request, headers=owner.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def upload(url: str, data: bytes, content_type: str = "application/pdf") -> httpx.Response:
    return httpx.put(url, content=data, headers={"Content-Type": content_type}, timeout=60)


def ready_project(http: httpx.Client, owner: Account, pdf: bytes | None = None) -> str:
    data = pdf or small_pdf()
    created = create_project(http, owner, size=len(data))
    assert upload(created["upload_url"], data).is_success
    project_id = str(created["project"]["id"])
    r = http.post(f"/api/projects/{project_id}/confirm", headers=owner.headers)
    assert r.status_code == 200, r.text
    return project_id


def share(http: httpx.Client, admin: Account, project_id: str, user: Account, level: str) -> None:
    r = http.post(
        f"/api/projects/{project_id}/access",
        json={"user_id": user.id, "level": level},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
