"""The knowledge API over real HTTP: access per role, validation, upload -> process -> completed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.core.config import Settings
from service.embeddings.factory import LOCAL_DEFAULT_MODEL
from service.storage import ObjectStore
from tests.conftest import CORPUS_DIR, Api, ApiSettings, LiveServer
from tests.factories import Account, Accounts
from tests.workers import StartWorker, wait_finished

SCANS = CORPUS_DIR / "cooke-1913-scans-pdf"


def _create(client: httpx.Client, who: Account, **body: Any) -> dict[str, Any]:
    r = client.post("/api/knowledge", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _upload_and_process(client: httpx.Client, who: Account, data: bytes, **body: Any) -> str:
    """Creates the document, PUTs `data` to its presigned URL and queues it; its id."""
    created = _create(client, who, file_size=len(data), **body)
    upload = created["upload"]
    httpx.put(
        upload["upload_url"], content=data, headers=upload["upload_headers"]
    ).raise_for_status()
    doc_id: str = created["document"]["id"]
    r = client.post(f"/api/knowledge/{doc_id}/process", headers=who.headers)
    assert r.status_code == 202, r.text
    return doc_id


def _titles(client: httpx.Client, who: Account) -> set[str]:
    r = client.get("/api/knowledge", params={"page_size": 100}, headers=who.headers)
    assert r.status_code == 200, r.text
    return {d["title"] for d in r.json()["items"]}


def _web(title: str, public: bool) -> dict[str, Any]:
    return {
        "title": title,
        "source_type": "web",
        "url": "https://example.com/x",
        "is_public": public,
    }


def test_list_and_get_follow_the_access_rules(client: httpx.Client, accounts: Accounts) -> None:
    admin = accounts.create("admin")
    alice = accounts.create("teacher", "alice")
    bob = accounts.create("teacher", "bob")
    sam = accounts.create("student", "sam")
    lone = accounts.create("student", "lone")
    accounts.link(alice, sam)

    platform_public = _create(client, admin, **_web("platform public", True))["document"]
    platform_private = _create(client, admin, **_web("platform private", False))["document"]
    alice_private = _create(client, alice, **_web("alice private", False))["document"]
    alice_public = _create(client, alice, **_web("alice public", True))["document"]
    # A teacher's "public" is a request: private to her (and her students) until approved.
    assert alice_public["publication"] == "pending_review" and not alice_public["is_public"]
    assert platform_public["publication"] == "public" and platform_public["is_public"]
    assert _titles(client, bob) == {"platform public"}
    assert _titles(client, lone) == {"platform public"}
    r = client.post(f"/api/admin/publications/{alice_public['id']}/approve", headers=admin.headers)
    assert r.status_code == 200 and r.json()["is_public"], r.text
    bob_private = _create(client, bob, **_web("bob private", False))["document"]
    assert platform_public["owner_id"] is None
    assert alice_private["owner_id"] == alice.id

    everything = {
        "platform public",
        "platform private",
        "alice private",
        "alice public",
        "bob private",
    }
    assert _titles(client, admin) == everything
    assert _titles(client, alice) == {"platform public", "alice private", "alice public"}
    assert _titles(client, bob) == {"platform public", "alice public", "bob private"}
    assert _titles(client, sam) == {"platform public", "alice private", "alice public"}
    assert _titles(client, lone) == {"platform public", "alice public"}

    def status(who: Account, doc: dict[str, Any]) -> int:
        return client.get(f"/api/knowledge/{doc['id']}", headers=who.headers).status_code

    assert status(sam, alice_private) == 200
    assert status(lone, alice_private) == 404
    assert status(bob, alice_private) == 404
    assert status(alice, platform_private) == 404
    assert status(admin, bob_private) == 200
    r = client.get(f"/api/knowledge/{bob_private['id']}/status", headers=sam.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found"
    r = client.get(f"/api/knowledge/{alice_private['id']}/status", headers=sam.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "pending"
    assert r.json()["progress"] == {"chunks_embedded": 0, "chunks_total": 0, "percent": 0.0}

    # Pagination keeps the filter.
    r = client.get("/api/knowledge", params={"page_size": 2, "page": 2}, headers=admin.headers)
    assert r.json()["total"] == 5 and len(r.json()["items"]) == 2


def test_who_may_create_change_and_delete(client: httpx.Client, accounts: Accounts) -> None:
    alice = accounts.create("teacher")
    bob = accounts.create("teacher")
    sam = accounts.create("student")
    admin = accounts.create("admin")
    accounts.link(alice, sam)
    r = client.post("/api/knowledge", json=_web("nope", True), headers=sam.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_role"

    doc = _create(client, alice, **_web("alice public", True))["document"]
    # Not yet approved: bob can't see it at all, her linked student can but can't change it.
    for who, code in ((bob, 404), (sam, 403)):
        r = client.delete(f"/api/knowledge/{doc['id']}", headers=who.headers)
        assert r.status_code == code
        r = client.post(f"/api/knowledge/{doc['id']}/process", headers=who.headers)
        assert r.status_code == code
    platform = _create(client, admin, **_web("platform", True))["document"]
    assert (
        client.delete(f"/api/knowledge/{platform['id']}", headers=alice.headers).status_code == 403
    )
    assert client.delete(f"/api/knowledge/{doc['id']}", headers=admin.headers).status_code == 204
    assert client.get(f"/api/knowledge/{doc['id']}", headers=alice.headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "x", "source_type": "pdf"}, "filename"),
        ({"title": "x", "source_type": "pdf", "filename": "notes.docx"}, ".pdf"),
        ({"title": "x", "source_type": "web"}, "url"),
        ({"title": "x", "source_type": "web", "url": "ftp://example.com/a"}, "http"),
        (
            {
                "title": "x",
                "source_type": "youtube",
                "url": "https://youtu.be/a",
                "filename": "a.txt",
            },
            ".vtt",
        ),
        ({"title": "", "source_type": "text", "filename": "a.txt"}, "title"),
        ({"title": "x", "source_type": "audio", "filename": "a.mp3"}, "source_type"),
        ({"title": "x", "source_type": "text", "filename": "a.txt"}, "file_size"),
        ({"title": "x", "source_type": "text", "filename": "a.txt", "file_size": 0}, "file_size"),
    ],
)
def test_bad_create_requests_are_422(
    client: httpx.Client, accounts: Accounts, body: dict[str, Any], field: str
) -> None:
    teacher = accounts.create("teacher")
    r = client.post("/api/knowledge", json=body, headers=teacher.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"]
    assert field in r.text


def test_processing_before_the_upload_is_409(client: httpx.Client, accounts: Accounts) -> None:
    teacher = accounts.create("teacher")
    created = _create(
        client, teacher, title="Scales", source_type="pdf", filename="scales.pdf", file_size=10
    )
    assert created["upload"]["upload_headers"] == {
        "Content-Type": "application/pdf",
        "Content-Length": "10",
    }
    r = client.post(f"/api/knowledge/{created['document']['id']}/process", headers=teacher.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "upload_missing"


@pytest.fixture
def worker_api(clean_db: str, settings: Settings, start_worker: StartWorker) -> Iterator[str]:
    """The API and a real worker process sharing the test database and S3 server."""
    start_worker("api-worker")
    with LiveServer(create_app(settings)) as server:
        yield server.url


def _wait_status(client: httpx.Client, who: Account, doc_id: str, timeout: float) -> dict[str, Any]:
    return wait_finished(
        lambda: client.get(f"/api/knowledge/{doc_id}/status", headers=who.headers).json(),
        timeout,
        "processing",
    )


def test_teacher_uploads_a_pdf_and_watches_it_complete(
    worker_api: str, clean_db: str, settings: Settings
) -> None:
    with httpx.Client(base_url=worker_api, timeout=30) as client:
        people = Accounts(client, clean_db)
        teacher = people.create("teacher")
        doc_id = _upload_and_process(
            client,
            teacher,
            (SCANS / "cooke_1913_pp003-040_scans_textlayer.pdf").read_bytes(),
            title="Cooke 1913",
            source_type="pdf",
            filename="Cooke 1913.pdf",
        )
        done = _wait_status(client, teacher, doc_id, 90)
        assert done["status"] == "completed", done
        assert done["progress"]["chunks_embedded"] == done["progress"]["chunks_total"] > 30
        assert done["progress"]["percent"] == 100.0
        assert done["started_at"] and done["finished_at"]
        doc = client.get(f"/api/knowledge/{doc_id}", headers=teacher.headers).json()
        assert doc["page_count"] == 38
        assert doc["embedding_model"] == "@cf/baai/bge-base-en-v1.5"
        assert doc["embedding_dim"] == 768

        # The image-only twin fails with a machine-readable reason.
        scan_id = _upload_and_process(
            client,
            teacher,
            (SCANS / "cooke_1913_pp003-040_scans_imageonly.pdf").read_bytes(),
            title="scan",
            source_type="pdf",
            filename="scan.pdf",
        )
        failed = _wait_status(client, teacher, scan_id, 60)
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "no_text_layer"

        # Delete removes the document, its chunks and the stored file.
        key_prefix = f"knowledge/{teacher.id}/{doc_id}/"
        store = ObjectStore(settings)
        assert store.list_keys(settings.storage.bucket_knowledge, key_prefix)
        r = client.delete(f"/api/knowledge/{doc_id}", headers=teacher.headers)
        assert r.status_code == 204
        assert store.list_keys(settings.storage.bucket_knowledge, key_prefix) == []
        import psycopg

        with psycopg.connect(clean_db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM document_chunks WHERE document_id = %s", (doc_id,)
            ).fetchone()
        assert row == (0,)


def test_transcript_upload_keeps_timestamps_end_to_end(worker_api: str, clean_db: str) -> None:
    from pathlib import Path

    vtt = (Path(__file__).parent / "fixtures" / "captions.vtt").read_bytes()
    with httpx.Client(base_url=worker_api, timeout=30) as client:
        teacher = Accounts(client, clean_db).create("teacher")
        doc_id = _upload_and_process(
            client,
            teacher,
            vtt,
            title="Scales lesson",
            source_type="youtube",
            url="https://www.youtube.com/watch?v=abc123",
            filename="scales.vtt",
        )
        assert _wait_status(client, teacher, doc_id, 60)["status"] == "completed"
    import psycopg

    with psycopg.connect(clean_db) as conn:
        rows = conn.execute(
            "SELECT start_seconds, end_seconds FROM document_chunks WHERE document_id = %s "
            "ORDER BY chunk_index",
            (doc_id,),
        ).fetchall()
    assert rows and rows[0][0] == pytest.approx(1.5)
    assert rows[-1][1] == pytest.approx(3726.5)


SECRET = "edge-secret-for-tests"


@pytest.fixture
def secret_api(api_settings: ApiSettings) -> Iterator[str]:
    with LiveServer(create_app(api_settings(origin_shared_secret=SECRET))) as server:
        yield server.url


def test_internal_embeddings_endpoint(
    secret_api: str, live_api: Api, local_embedder: object
) -> None:
    body = {"texts": ["How do I practise trills?", "Pedalling in Chopin"]}
    r = httpx.post(f"{live_api.url}/api/internal/embeddings", json=body)
    assert r.status_code == 404, "off unless ORIGIN_SHARED_SECRET is set"
    r = httpx.post(f"{live_api.url}/api/internal/embeddings", json={"texts": []})
    assert r.status_code == 404, "invisible even to bad bodies"
    r = httpx.post(f"{secret_api}/api/internal/embeddings", json={"texts": []})
    assert r.status_code == 403, "the secret is checked before the body"
    r = httpx.post(f"{secret_api}/api/internal/embeddings", json=body)
    assert r.status_code == 403
    r = httpx.post(
        f"{secret_api}/api/internal/embeddings", json=body, headers={"X-Origin-Secret": "wrong"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    ok = {"X-Origin-Secret": SECRET}
    r = httpx.post(f"{secret_api}/api/internal/embeddings", json=body, headers=ok, timeout=60)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["model"] == LOCAL_DEFAULT_MODEL and out["dimensions"] == 384
    assert len(out["embeddings"]) == 2 and len(out["embeddings"][0]) == 384
    bad_bodies: list[dict[str, list[str]]] = [
        {"texts": []},
        {"texts": ["x"] * 51},
        {"texts": ["x" * 8001]},
    ]
    for bad in bad_bodies:
        r = httpx.post(f"{secret_api}/api/internal/embeddings", json=bad, headers=ok)
        assert r.status_code == 422, r.text
