"""The `make up` S3 server keeps uploads across a restart (moto recorder + replay)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from devtools import local_s3
from service.storage import ObjectStore
from tests.conftest import free_port, make_settings


def _start(endpoint: str, data_dir: Path) -> subprocess.Popen[bytes]:
    host, port = local_s3.loopback_address(endpoint) or ("", 0)
    proc = subprocess.Popen(
        local_s3.server_command(host, port),
        env={**os.environ, **local_s3.recording_env(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        if local_s3.is_up(endpoint):
            return proc
        assert proc.poll() is None, "S3 server exited"
        time.sleep(0.1)
    raise AssertionError("S3 server did not start")


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = ObjectStore(make_settings("postgresql://unused", tmp_path, s3_endpoint_url=endpoint))
    bucket = store.settings.storage.bucket_projects
    data_dir = tmp_path / "s3"
    proc = _start(endpoint, data_dir)
    try:
        store.ensure_buckets()
        body = b"%PDF-1.4 kept" + bytes(range(256)) * 64
        url = store.presign_put(bucket, "projects/u/p/kept.pdf", "application/pdf", len(body), 3600)
        assert httpx.put(url, content=body, headers={"Content-Type": "application/pdf"}).is_success
        store.put_bytes(bucket, "projects/u/p/gone.pdf", b"%PDF-1.4", "application/pdf")
        store.delete(bucket, "projects/u/p/gone.pdf")
    finally:
        proc.terminate()
        proc.wait(10)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{endpoint}/moto-api/", timeout=1)

    proc = _start(endpoint, data_dir)
    try:
        assert local_s3.replay(endpoint, data_dir) > 0
        assert store.get_bytes(bucket, "projects/u/p/kept.pdf") == body
        assert store.list_keys(bucket, "projects/u/p/") == ["projects/u/p/kept.pdf"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_concurrent_uploads_keep_the_recording_valid(tmp_path: Path) -> None:
    """moto's recorder is unlocked upstream; ours serialises it, so parallel PUTs replay cleanly."""
    from concurrent.futures import ThreadPoolExecutor

    endpoint = f"http://127.0.0.1:{free_port()}"
    store = ObjectStore(make_settings("postgresql://unused", tmp_path, s3_endpoint_url=endpoint))
    bucket = store.settings.storage.bucket_projects
    data_dir = tmp_path / "s3"
    bodies = {f"projects/u/p/{i}.pdf": b"%PDF-1.4 " + bytes([i]) * 200_000 for i in range(16)}
    proc = _start(endpoint, data_dir)
    try:
        store.ensure_buckets()

        def upload(key: str) -> bool:
            url = store.presign_put(bucket, key, "application/pdf", len(bodies[key]), 3600)
            return httpx.put(
                url, content=bodies[key], headers={"Content-Type": "application/pdf"}
            ).is_success

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(upload, bodies))
    finally:
        proc.terminate()
        proc.wait(10)
    import json

    for line in (data_dir / "recording.jsonl").read_bytes().splitlines():
        json.loads(line)  # every entry intact

    # A recording corrupted by an older server still restores what is intact.
    with (data_dir / "recording.jsonl").open("ab") as f:
        f.write(b'{"method": "PUT", "url": "truncated\n')
    proc = _start(endpoint, data_dir)
    try:
        local_s3.replay(endpoint, data_dir)
        for key, body in bodies.items():
            assert store.get_bytes(bucket, key) == body
    finally:
        proc.terminate()
        proc.wait(10)
