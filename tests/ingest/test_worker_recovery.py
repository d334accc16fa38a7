"""A worker killed mid-job: another worker retries the job and it completes, without duplicates."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from service.core.config import Settings
from service.knowledge.queue import QueueClient
from service.knowledge.sources import CORPUS_SCHEME
from tests.conftest import CORPUS_DIR, REPO_ROOT
from tests.ingest.fake_workers_ai import FakeWorkersAI

BOOK = "hullah-leschetizky/43915-0.txt"


@pytest.fixture
def start_worker(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI, tmp_path: Path
) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        **fake_ai.env(),
        "DATABASE_URL": clean_db,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "INFO",
        "CORPUS_DIR": str(CORPUS_DIR),
        "S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "EMBEDDING_BATCH_SIZE": "5",
        "CHUNK_INSERT_BATCH": "5",
        "WORKER_HEARTBEAT_SECONDS": "0.5",
        "WORKER_STALLED_AFTER_SECONDS": "2",
        "WORKER_STALLED_CHECK_SECONDS": "0.5",
    }

    def start(name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.worker"],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _doc(url: str, doc_id: uuid.UUID) -> dict[str, object]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT status, chunks_total, chunks_embedded, error_code FROM knowledge_documents "
            "WHERE id = %s",
            (doc_id,),
        ).fetchone()
    assert row is not None
    return row


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_job_is_retried_and_completes_once(
    clean_db: str, fake_ai: FakeWorkersAI, start_worker: Callable[[str], subprocess.Popen[bytes]]
) -> None:
    fake_ai.delay_seconds = 0.3  # slow enough that the kill lands mid-job
    doc_id = uuid.uuid4()
    with psycopg.connect(clean_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO knowledge_documents (id, title, source_type, source_url, is_public) "
            "VALUES (%s, 'Leschetizky', 'text', %s, true)",
            (doc_id, CORPUS_SCHEME + BOOK),
        )

    async def enqueue() -> None:
        queue = QueueClient(clean_db)
        try:
            await queue.enqueue_processing(doc_id)
        finally:
            await queue.close()

    asyncio.run(enqueue())

    first = start_worker("first")
    _wait(lambda: int(_doc(clean_db, doc_id)["chunks_embedded"]) >= 10, 60, "first batches")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    halfway = _doc(clean_db, doc_id)
    assert halfway["status"] == "processing"
    assert 0 < int(halfway["chunks_embedded"]) < int(halfway["chunks_total"])

    start_worker("second")
    _wait(lambda: _doc(clean_db, doc_id)["status"] == "completed", 90, "the retried job")

    with psycopg.connect(clean_db, row_factory=dict_row) as conn:
        counts = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT chunk_index) AS d, min(chunk_index) AS lo, "
            "max(chunk_index) AS hi FROM document_chunks WHERE document_id = %s",
            (doc_id,),
        ).fetchone()
        staged = conn.execute("SELECT count(*) AS n FROM document_chunks_staging").fetchone()
        job = conn.execute(
            "SELECT status, attempts FROM procrastinate_jobs WHERE args->>'document_id' = %s",
            (str(doc_id),),
        ).fetchall()
    done = _doc(clean_db, doc_id)
    assert counts is not None and staged is not None
    assert counts["n"] == counts["d"] == done["chunks_total"] == done["chunks_embedded"]
    assert (counts["lo"], counts["hi"]) == (0, counts["n"] - 1)
    assert staged["n"] == 0
    assert [j["status"] for j in job] == ["succeeded"]
    assert job[0]["attempts"] >= 1, "the job ran again after the stalled-job retry"
