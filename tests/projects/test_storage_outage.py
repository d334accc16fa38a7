"""Fault: object storage becomes unreachable, then comes back. Uploads and deletes answer 503
storage_unavailable while it is down; no row ever points at a missing object and no object is
left without a row."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from devtools import local_s3
from devtools.live_server import free_port
from service.storage import ObjectStore, upload_key
from tests.conftest import ApiSettings, StartApi
from tests.factories import Accounts
from tests.projects.conftest import UPLOAD_LIMIT, create_project, ready_project, small_pdf, upload


def _invariants(url: str, store: ObjectStore, owner_id: str) -> None:
    """Rows and objects agree: each key a row names exists, each object belongs to a row.
    (Scoped to this test's owner: the in-process S3 backend is shared with other tests.)"""
    settings = store.settings
    with psycopg.connect(url) as conn:
        ready = {
            k for (k,) in conn.execute("SELECT storage_key FROM projects WHERE status = 'ready'")
        }
        pending = {
            upload_key(k)
            for (k,) in conn.execute("SELECT storage_key FROM projects WHERE status = 'pending'")
        }
        documents = {
            k
            for (k,) in conn.execute(
                "SELECT storage_key FROM knowledge_documents WHERE storage_key IS NOT NULL"
            )
        }
    projects_bucket = settings.storage.bucket_projects
    final_prefix = f"projects/{owner_id}/"
    project_objects = set(store.list_keys(projects_bucket, final_prefix)) | set(
        store.list_keys(projects_bucket, upload_key(final_prefix))
    )
    knowledge_objects = set(
        store.list_keys(settings.storage.bucket_knowledge, f"knowledge/{owner_id}/")
    )
    assert ready <= project_objects, "a ready project points at a missing object"
    assert project_objects <= ready | pending, "an object no project owns"
    assert knowledge_objects <= documents, "an object no document owns"


def test_uploads_and_deletes_answer_503_while_storage_is_down_and_nothing_drifts(
    start_api: StartApi, api_settings: ApiSettings, clean_db: str
) -> None:
    port = free_port()
    credentials = local_s3.local_credentials()
    storage = local_s3.ThreadedServer("127.0.0.1", port, credentials).__enter__()
    api = start_api(
        api_settings(
            s3_endpoint_url=f"http://127.0.0.1:{port}",
            s3_max_attempts=2,
            s3_timeout_seconds=2,
            upload_max_bytes=UPLOAD_LIMIT,
        )
    )
    store = ObjectStore(api.settings)
    text = b"Play slowly.\n"
    with httpx.Client(base_url=api.url, timeout=60) as client:
        owner = Accounts(client, clean_db).create("teacher")
        ready = ready_project(client, owner)
        pending = create_project(client, owner, title="half way")
        assert upload(pending["upload_url"], small_pdf()).is_success
        pending_id = pending["project"]["id"]
        doc: dict[str, Any] = client.post(
            "/api/knowledge",
            json={"title": "n", "source_type": "text", "filename": "n.txt", "file_size": len(text)},
            headers=owner.headers,
        ).json()
        httpx.put(
            doc["upload"]["upload_url"], content=text, headers=doc["upload"]["upload_headers"]
        ).raise_for_status()
        doc_id = doc["document"]["id"]
        _invariants(clean_db, store, owner.id)

        storage.__exit__()  # storage goes away
        try:
            down: dict[str, httpx.Response] = {
                "confirm": client.post(
                    f"/api/projects/{pending_id}/confirm", headers=owner.headers
                ),
                "delete project": client.delete(f"/api/projects/{ready}", headers=owner.headers),
                "process document": client.post(
                    f"/api/knowledge/{doc_id}/process", headers=owner.headers
                ),
                "delete document": client.delete(f"/api/knowledge/{doc_id}", headers=owner.headers),
            }
            for what, r in down.items():
                assert r.status_code == 503, (what, r.text)
                assert r.json()["error"]["code"] == "storage_unavailable", what
            # A new upload can't reach the store either (the client sees the failure itself).
            fresh = create_project(client, owner, title="during the outage")
            with pytest.raises(httpx.TransportError):
                upload(fresh["upload_url"], small_pdf())
            # Everything is as it was: the ready project, the pending one, the document.
            assert (
                client.get(f"/api/projects/{ready}", headers=owner.headers).json()["status"]
                == "ready"
            )
            assert (
                client.get(f"/api/projects/{pending_id}", headers=owner.headers).json()["status"]
                == "pending"
            )
            assert client.get(f"/api/knowledge/{doc_id}", headers=owner.headers).status_code == 200
        finally:
            storage = local_s3.ThreadedServer("127.0.0.1", port, credentials).__enter__()

        try:
            _invariants(clean_db, store, owner.id)
            # Retried once storage is back, each completes, and the two sides still agree.
            assert (
                client.post(
                    f"/api/projects/{pending_id}/confirm", headers=owner.headers
                ).status_code
                == 200
            )
            assert client.delete(f"/api/projects/{ready}", headers=owner.headers).status_code == 204
            assert (
                client.delete(f"/api/knowledge/{doc_id}", headers=owner.headers).status_code == 204
            )
            _invariants(clean_db, store, owner.id)
        finally:
            storage.__exit__()
