"""The storage module against a real S3-speaking server, over real HTTP."""

from __future__ import annotations

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
    put_url = store.presign_put(bucket, key, "application/pdf", 3600)
    signed = parse_qs(urlsplit(put_url).query)
    assert signed["X-Amz-Expires"] == ["3600"]
    # The content type is a signed header: S3/R2 reject a PUT that sends another one.
    assert "content-type" in signed["X-Amz-SignedHeaders"][0].split(";")
    body = b"%PDF-1.4 test body"
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
