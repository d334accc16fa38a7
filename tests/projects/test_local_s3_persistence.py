"""The `make up` S3 server keeps uploads across a restart (moto recorder + replay)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from service.storage import ObjectStore, local_server
from tests.conftest import free_port, make_settings


def _start(endpoint: str, data_dir: Path) -> subprocess.Popen[bytes]:
    host, port = local_server.loopback_address(endpoint) or ("", 0)
    proc = subprocess.Popen(
        local_server.server_command(host, port),
        env={**os.environ, **local_server.recording_env(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        if local_server.is_up(endpoint):
            return proc
        assert proc.poll() is None, "S3 server exited"
        time.sleep(0.1)
    raise AssertionError("S3 server did not start")


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = ObjectStore(make_settings("postgresql://unused", tmp_path, s3_endpoint_url=endpoint))
    bucket = store.settings.s3_bucket_projects
    data_dir = tmp_path / "s3"
    proc = _start(endpoint, data_dir)
    try:
        store.ensure_buckets()
        url = store.presign_put(bucket, "projects/u/p/kept.pdf", "application/pdf", 3600)
        body = b"%PDF-1.4 kept" + bytes(range(256)) * 64
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
        assert local_server.replay(endpoint, data_dir) > 0
        assert store.get_bytes(bucket, "projects/u/p/kept.pdf") == body
        assert store.list_keys(bucket, "projects/u/p/") == ["projects/u/p/kept.pdf"]
    finally:
        proc.terminate()
        proc.wait(10)
