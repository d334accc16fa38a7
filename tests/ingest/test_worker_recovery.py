"""A worker killed mid-job: another worker retries the job and it completes, without duplicates."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row

from service.knowledge.queue import QueueClient
from service.knowledge.sources import CORPUS_SCHEME
from tests.ingest.fake_workers_ai import FakeWorkersAI
from tests.waiting import wait_until
from tests.workers import StartWorker

BOOK = "hullah-leschetizky/43915-0.txt"


def _doc(url: str, doc_id: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT status, chunks_total, chunks_embedded, error_code, processing_run_id "
            "FROM knowledge_documents "
            "WHERE id = %s",
            (doc_id,),
        ).fetchone()
    assert row is not None
    return row


def test_killed_worker_job_is_retried_and_completes_once(
    clean_db: str, fake_ai: FakeWorkersAI, start_worker: StartWorker
) -> None:
    fake_ai.delay_seconds = 0.3  # slow enough that the kill lands mid-job
    doc_id = uuid.uuid4()
    with psycopg.connect(clean_db, autocommit=True) as setup:
        setup.execute(
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
    wait_until(lambda: int(_doc(clean_db, doc_id)["chunks_embedded"]) >= 10, 60, "first batches")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    halfway = _doc(clean_db, doc_id)
    assert halfway["status"] == "processing"
    assert 0 < int(halfway["chunks_embedded"]) < int(halfway["chunks_total"])

    start_worker("second")
    wait_until(lambda: _doc(clean_db, doc_id)["status"] == "completed", 90, "the retried job")

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
