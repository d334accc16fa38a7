"""One document can't stall ingestion: parsers in killable processes, a deadline per run, an
attempt cap for documents that take their worker down, and control characters dropped."""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from service.core.config import Settings
from service.embeddings.factory import build_embedder
from service.knowledge.extracted import ExtractionError
from service.knowledge.offload import ParserPool
from service.knowledge.pipeline import process_document
from service.knowledge.queue import QueueClient
from service.knowledge.sources import SourceReader
from service.repositories import knowledge as repo
from service.storage import ObjectStore
from tests.ingest import parser_faults
from tests.ingest.documents import platform_document
from tests.ingest.fake_workers_ai import FakeWorkersAI
from tests.ingest.test_worker_recovery import BOOK, _doc
from tests.waiting import wait_until
from tests.workers import StartWorker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child stays a zombie until pebble reaps it; a zombie is not running.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


# --- parser processes ---------------------------------------------------------------------------


def test_a_parser_past_its_deadline_is_killed_and_the_pool_goes_on(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def run() -> tuple[str, float, str]:
        pool = ParserPool(1, timeout_seconds=2)
        try:
            started = time.monotonic()
            with pytest.raises(ExtractionError) as failed:
                await pool.run(parser_faults.hang, 600, str(pid_file))
            took = time.monotonic() - started
            return failed.value.code, took, await pool.run(parser_faults.echo, "next")
        finally:
            pool.close()

    code, took, after = asyncio.run(run())
    assert code == "parse_timeout"
    assert took < 30
    wait_until(lambda: not _alive(int(pid_file.read_text())), 10, "the hung parser to be killed")
    assert after == "next", "a fresh child takes the next file"


def test_a_parser_that_crashes_fails_the_file_not_the_worker() -> None:
    async def run() -> tuple[str, str]:
        pool = ParserPool(1, timeout_seconds=30)
        try:
            with pytest.raises(ExtractionError) as failed:
                await pool.run(parser_faults.crash)
            return failed.value.code, await pool.run(parser_faults.echo, "next")
        finally:
            pool.close()

    assert asyncio.run(run()) == ("parse_crashed", "next")


def test_cancelling_the_job_stops_its_parser(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    async def run() -> None:
        pool = ParserPool(1, timeout_seconds=600)
        try:
            task = asyncio.ensure_future(pool.run(parser_faults.hang, 600, str(pid_file)))
            await asyncio.to_thread(wait_until, pid_file.exists, 30, "the parser to start")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            pool.close()

    asyncio.run(run())
    wait_until(lambda: not _alive(int(pid_file.read_text())), 10, "the cancelled parser to stop")


# --- a run's own limits -------------------------------------------------------------------------


def pdf_with_text(text: bytes) -> bytes:
    """A one-page PDF whose text layer holds `text` verbatim (PDF string escapes allowed)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    fonts = DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET")
    page[NameObject("/Contents")] = writer._add_object(stream)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


async def _stored_doc(conn: Any, source_type: str) -> uuid.UUID:
    doc_id = uuid.uuid4()
    return await platform_document(
        conn,
        source_type,
        "stored",
        filename="file",
        storage_key=f"knowledge/platform/{doc_id}/file",
        document_id=doc_id,
    )


def _reader_of(settings: Settings, data: bytes) -> SourceReader:
    async def get(key: str) -> bytes:
        return data

    return SourceReader(settings, get)


async def _connect(url: str) -> psycopg.AsyncConnection[dict[str, Any]]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


def test_a_pdf_whose_text_holds_nul_and_control_characters_is_indexed(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI
) -> None:
    """NUL in extracted text used to fail the run with DataError (PostgreSQL refuses it)."""
    bge = settings.model_copy(update=fake_ai.settings_overrides())
    pdf = pdf_with_text(b"Play the scale slowly.\\000 Keep the wrist\\033 loose.\\014Listen.")

    async def run() -> tuple[str, list[str]]:
        async with await _connect(clean_db) as conn:
            doc_id = await _stored_doc(conn, "pdf")
            result = await process_document(
                conn, bge, doc_id, embedder=build_embedder(bge), reader=_reader_of(bge, pdf)
            )
            cur = await conn.execute(
                "SELECT content FROM document_chunks WHERE document_id = %s", (doc_id,)
            )
            return result.status, [r["content"] for r in await cur.fetchall()]

    status, contents = asyncio.run(run())
    assert status == "completed"
    assert contents == ["Play the scale slowly. Keep the wrist loose.\nListen."]


def test_a_run_past_its_deadline_fails_with_a_reason(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI
) -> None:
    fake_ai.delay_seconds = 5  # every embedding request hangs past the run's deadline
    limited = settings.model_copy(
        update={"ingest_job_timeout_seconds": 1, **fake_ai.settings_overrides()}
    )
    text = b"Practise slowly. Keep the wrist loose.\n\n" * 20

    async def run() -> tuple[str, Any]:
        async with await _connect(clean_db) as conn:
            doc_id = await _stored_doc(conn, "text")
            started = time.monotonic()
            result = await process_document(
                conn,
                limited,
                doc_id,
                embedder=build_embedder(limited),
                reader=_reader_of(limited, text),
            )
            assert time.monotonic() - started < 4.5, "the deadline cut the hanging request"
            return result.status, await repo.get(conn, doc_id)

    status, doc = asyncio.run(run())
    assert status == "failed"
    assert doc.status == "failed" and doc.error_code == "processing_timeout"
    assert "1 s" in (doc.error_message or "")


# --- in the real worker -------------------------------------------------------------------------


def _insert_stored(url: str, settings: Settings, title: str, data: bytes) -> uuid.UUID:
    doc_id = uuid.uuid4()
    key = f"knowledge/platform/{doc_id}/{title}.txt"
    store = ObjectStore(settings)
    store.ensure_buckets()
    store.put_bytes(settings.storage.bucket_knowledge, key, data, "text/plain")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO knowledge_documents (id, title, source_type, filename, storage_key, "
            "is_public) VALUES (%s, %s, 'text', %s, %s, true)",
            (doc_id, title, f"{title}.txt", key),
        )
    return doc_id


def _enqueue(url: str, *doc_ids: uuid.UUID) -> None:
    async def run() -> None:
        queue = QueueClient(url)
        try:
            for doc_id in doc_ids:
                await queue.enqueue_processing(doc_id)
        finally:
            await queue.close()

    asyncio.run(run())


def _job(url: str, doc_id: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT status, attempts FROM procrastinate_jobs WHERE args->>'document_id' = %s",
            (str(doc_id),),
        ).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def _heartbeat_age(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM now() - max(last_heartbeat)) FROM procrastinate_workers"
        ).fetchone()
    assert row is not None and row[0] is not None
    return float(row[0])


def test_a_small_document_completes_while_a_pathological_one_is_in_progress(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI, start_worker: StartWorker
) -> None:
    """A megabyte without a sentence end or a paragraph break: the old chunker blocked the
    worker's loop on it for minutes, heartbeats stopped, and (silent for 2 s here) the job was
    declared stalled and retried, blocking the next worker too."""
    rng = random.Random(3)
    words = ["legato", "finger", "wrist", "slowly", "scale", "arpeggio", "tone", "pedal"]
    blob = " ".join(rng.choice(words) for _ in range(170_000)).encode()
    big = _insert_stored(clean_db, settings, "pathological", blob)
    small = _insert_stored(clean_db, settings, "small", b"Play slowly. Listen to every note.\n")
    _enqueue(clean_db, big)
    start_worker("isolation", CHUNK_INSERT_BATCH="50", EMBEDDING_BATCH_SIZE="50")
    wait_until(
        lambda: _doc(clean_db, big)["status"] == "processing", 60, "the big document to start"
    )
    _enqueue(clean_db, small)

    ages: list[float] = []

    def small_done() -> bool:
        ages.append(_heartbeat_age(clean_db))
        return _doc(clean_db, small)["status"] == "completed"

    wait_until(small_done, 60, "the small document")
    assert _doc(clean_db, big)["status"] == "processing", "the big one is still in progress"
    assert max(ages) < 2, f"heartbeats stopped while the big document was chunked: {max(ages)}"

    wait_until(lambda: _doc(clean_db, big)["status"] == "completed", 240, "the big document")
    # One attempt each (procrastinate counts the run that finished): never declared stalled.
    assert _job(clean_db, big) == {"status": "succeeded", "attempts": 1}
    assert _job(clean_db, small) == {"status": "succeeded", "attempts": 1}


def test_a_document_that_keeps_killing_its_worker_is_failed_not_retried_forever(
    clean_db: str, fake_ai: FakeWorkersAI, start_worker: StartWorker
) -> None:
    """With INGEST_MAX_ATTEMPTS=2: killed twice mid-document, the third worker fails it."""
    fake_ai.delay_seconds = 0.3
    doc_id = uuid.uuid4()
    with psycopg.connect(clean_db, autocommit=True) as setup:
        setup.execute(
            "INSERT INTO knowledge_documents (id, title, source_type, source_url, is_public) "
            "VALUES (%s, 'Leschetizky', 'text', %s, true)",
            (doc_id, "corpus://" + BOOK),
        )
    _enqueue(clean_db, doc_id)
    runs: list[Any] = []

    def running_again(attempts: int) -> bool:
        job, doc = _job(clean_db, doc_id), _doc(clean_db, doc_id)
        return (
            job == {"status": "doing", "attempts": attempts}
            and doc["processing_run_id"] not in runs
            and int(doc["chunks_embedded"]) >= 5
        )

    for attempts in range(2):
        worker = start_worker(f"doomed-{attempts}", INGEST_MAX_ATTEMPTS="2")
        wait_until(lambda: running_again(attempts), 60, f"run {attempts + 1} half way")  # noqa: B023
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        runs.append(_doc(clean_db, doc_id)["processing_run_id"])
    start_worker("survivor", INGEST_MAX_ATTEMPTS="2")
    wait_until(
        lambda: _doc(clean_db, doc_id)["status"] == "failed", 60, "the document to be failed"
    )
    doc = _doc(clean_db, doc_id)
    assert doc["error_code"] == "too_many_attempts"
    # procrastinate counts the finishing run too: two retries, then the run that gave up.
    assert _job(clean_db, doc_id) == {"status": "succeeded", "attempts": 3}
    with psycopg.connect(clean_db) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM document_chunks WHERE document_id = %(d)s), "
            "(SELECT count(*) FROM document_chunks_staging WHERE document_id = %(d)s)",
            {"d": doc_id},
        ).fetchone()
    assert counts == (0, 0), "nothing half-done is left behind"
