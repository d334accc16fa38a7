"""Recordings fixtures: synthetic piano takes built once per session, upload helpers, a real
worker process for analyses, and the checks that nothing was left behind."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from devtools import audio_synth
from service.core.config import Settings
from service.storage import ObjectStore
from tests import workers
from tests.factories import Account
from tests.workers import StartWorker, WorkerProcesses

TAKES = ("steady", "jittered", "swell", "staccato", "legato", "pedal")


class Takes:
    """Every scenario in WAV, MP3 and M4A, each rendered and encoded once, when first asked for
    (a few seconds of audio each)."""

    def __init__(self) -> None:
        self.samples: dict[str, Any] = {}
        self.files: dict[tuple[str, str], bytes] = {}

    def __getitem__(self, key: tuple[str, str]) -> bytes:
        take, fmt = key
        if key not in self.files:
            if take not in self.samples:
                self.samples[take] = audio_synth.render(audio_synth.scenario(take))
            self.files[key] = audio_synth.encode(self.samples[take], fmt)  # type: ignore[arg-type]
        return self.files[key]


@pytest.fixture(scope="session")
def takes() -> Takes:
    return Takes()


def upload(
    client: httpx.Client,
    who: Account,
    data: bytes,
    filename: str = "take.wav",
    *,
    metadata: dict[str, Any] | str | None = None,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    files: list[tuple[str, Any]] = [("audio", (filename, data, content_type))]
    if metadata is not None:
        text = metadata if isinstance(metadata, str) else json.dumps(metadata)
        files.append(("metadata", (None, text, "application/json")))
    return client.post("/api/v1/upload", files=files, headers=who.headers)


def metadata_for(data: bytes, name: str = "take.wav") -> dict[str, Any]:
    return {
        "originalName": name,
        "size": len(data),
        "type": "audio/wav",
        "hash": hashlib.sha256(data).hexdigest(),
    }


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == r.headers["x-request-id"]
    return error


class Leftovers:
    """What a user has stored: rows, objects, and multipart uploads never completed."""

    def __init__(self, db_url: str, settings: Settings) -> None:
        self.db_url = db_url
        self.store = ObjectStore(settings)
        self.bucket = settings.storage.bucket_projects

    def of(self, who: Account) -> tuple[int, list[str], list[str]]:
        with psycopg.connect(self.db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM recordings WHERE user_id = %s", (who.id,)
            ).fetchone()
        prefix = f"recordings/{who.id}/"
        return (
            int(row[0]) if row else 0,
            self.store.list_keys(self.bucket, prefix),
            self.store.multipart_uploads(self.bucket, prefix),
        )

    def assert_none(self, who: Account) -> None:
        assert self.of(who) == (0, [], []), "an upload left something behind"


@pytest.fixture
def leftovers(clean_db: str, settings: Settings) -> Leftovers:
    return Leftovers(clean_db, settings)


@pytest.fixture
def start_worker(clean_db: str, settings: Settings, tmp_path: Path) -> Iterator[StartWorker]:
    """Real worker processes on the test database and S3 server."""
    workers = WorkerProcesses(
        {
            "DATABASE_URL": clean_db,
            "S3_ENDPOINT_URL": settings.storage.endpoint_url,
            "EMBEDDING_WARMUP": "false",
        },
        tmp_path,
        stop_seconds=15,
    )
    yield workers.start
    workers.stop_all()


def wait_finished(
    client: httpx.Client, who: Account, recording_id: str, timeout: float = 120
) -> dict[str, Any]:
    """Polls until the analysis completes or fails; the statuses seen on the way are kept."""
    return workers.wait_finished(
        lambda: client.get(f"/api/v1/recordings/{recording_id}", headers=who.headers).json(),
        timeout,
        "analysis",
    )
