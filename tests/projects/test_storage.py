"""The storage module against a real S3-speaking server, over real HTTP."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import pytest

from service.core.config import Settings
from service.storage import ObjectStore, StorageUnavailable, project_key, sanitize_filename


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Cooke Mastering the Scales.pdf", "Cooke-Mastering-the-Scales.pdf"),
        ("../../etc/passwd", "passwd.pdf"),
        ("C:\\Users\\me\\Étude n°3.PDF", "Etude-n3.pdf"),
        ("   ", "document.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
        ('quote"s;and\nnewline.pdf', "quote-s-and-newline.pdf"),
    ],
)
def test_sanitize_filename(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


def test_project_key_layout() -> None:
    user, project = uuid4(), uuid4()
    assert project_key(user, project, "My Score.pdf") == f"projects/{user}/{project}/My-Score.pdf"


def test_presigned_put_get_round_trip(settings: Settings) -> None:
    store = ObjectStore(settings)
    store.ensure_buckets()
    bucket, key = settings.storage.bucket_projects, f"projects/test/{uuid4()}/a.pdf"
    body = b"%PDF-1.4 test body"
    put_url = store.presign_put(bucket, key, "application/pdf", len(body), 3600)
    signed = parse_qs(urlsplit(put_url).query)
    assert signed["X-Amz-Expires"] == ["3600"]
    # Type and length are signed headers: S3/R2 (and the local store) refuse any other.
    assert {"content-type", "content-length"} <= set(signed["X-Amz-SignedHeaders"][0].split(";"))
    assert httpx.put(put_url, content=body, headers={"Content-Type": "application/pdf"}).is_success
    info = store.head(bucket, key)
    assert info is not None and info.size == len(body) and info.etag
    assert store.read_range(bucket, key, 0, 4) == b"%PDF"
    get_url = store.presign_get(bucket, key, 60, download_name="a.pdf")
    r = httpx.get(get_url)
    assert r.content == body
    assert store.list_keys(bucket, key) == [key]
    store.delete(bucket, key)
    store.delete(bucket, key)  # idempotent
    assert store.head(bucket, key) is None


def test_unreachable_store_raises_storage_unavailable(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"s3_endpoint_url": "http://127.0.0.1:9", "s3_max_attempts": 2}
    )
    store = ObjectStore(dead)
    with pytest.raises(StorageUnavailable):
        store.head(settings.storage.bucket_projects, "x")
    with pytest.raises(StorageUnavailable):
        store.delete(settings.storage.bucket_projects, "x")


def test_the_local_store_checks_signatures_as_r2_does(settings: Settings) -> None:
    """The local S3 server verifies SigV4 (botocore's signer), so these fail here as on R2."""
    store = ObjectStore(settings)
    store.ensure_buckets()
    bucket, key = settings.storage.bucket_projects, f"projects/test/{uuid4()}/b.pdf"
    body = b"%PDF-1.4 signed"
    url = store.presign_put(bucket, key, "application/pdf", len(body), 3600)

    def put(target: str, data: bytes, content_type: str = "application/pdf") -> httpx.Response:
        return httpx.put(target, content=data, headers={"Content-Type": content_type})

    refused = {
        "another type": put(url, body, "text/html"),
        "another length": put(url, body + b"!"),
        "another key": put(url.replace("/b.pdf?", "/c.pdf?"), body),
        "a tampered expiry": put(url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"), body),
    }
    expired_url = store.presign_put(bucket, key, "application/pdf", len(body), 1)
    time.sleep(2)
    refused["an expired URL"] = put(expired_url, body)
    refused["no signature"] = httpx.put(
        f"{settings.storage.endpoint_url}/{bucket}/{key}", content=body
    )
    wrong_secret = ObjectStore(settings.model_copy(update={"s3_secret_access_key": "guessed"}))
    refused["a wrong secret"] = put(
        wrong_secret.presign_put(bucket, key, "application/pdf", len(body), 3600), body
    )
    for what, response in refused.items():
        assert response.status_code in (400, 403), what
        assert "<Code>" in response.text, what
    assert store.head(bucket, key) is None, "nothing landed"
    assert put(url, body).is_success
    # boto3's own (header-signed) calls pass the same check.
    assert store.get_bytes(bucket, key) == body
