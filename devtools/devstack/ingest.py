"""The ingestion parts of the local stack: the job worker and the demo corpus seed."""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
from psycopg.rows import dict_row

from devtools.devstack.processes import Child, Supervisor, python
from devtools.seed import reembed_stale, seed_corpus, seed_progress
from service.core.config import Settings
from service.embeddings.factory import local_model_name
from service.knowledge.queue import QueueClient


def start_worker(sup: Supervisor, env: dict[str, str]) -> Child:
    """The same command production instance groups run."""
    print("==> starting ingestion worker (python -m service.worker)", flush=True)
    return sup.start("worker", [python(), "-m", "service.worker"], env)


async def _seed(settings: Settings, url: str) -> int:
    queue = QueueClient(url)
    try:
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, row_factory=dict_row
        ) as conn:
            queued = await seed_corpus(conn, queue, settings.local.corpus_dir)
            if settings.embedding.provider == "local":
                model = local_model_name(settings)
                demo, others = await reembed_stale(conn, queue, model)
                if demo:
                    print(
                        f"==> seed: {len(demo)} demo books were embedded with another model "
                        f"than {model}; re-processing them",
                        flush=True,
                    )
                    queued += demo
                if others:
                    print(
                        f"==> {others} other documents were embedded with another model than "
                        f"{model}: searches won't find them until they are processed again "
                        "(POST /api/knowledge/{id}/process, or make reset)",
                        flush=True,
                    )
    finally:
        await queue.close()
    return len(queued)


def seed(settings: Settings, url: str) -> int:
    """Inserts and queues the books not seeded yet; a seeded database is left as it is."""
    if not settings.local.corpus_dir.is_dir():
        print(
            f"==> seed: no corpus at {settings.local.corpus_dir} (set CORPUS_DIR); skipped",
            flush=True,
        )
        return 0
    queued = asyncio.run(_seed(settings, url))
    if queued:
        print(f"==> seed: {queued} public books queued for processing", flush=True)
    else:
        print("==> seed: demo books already loaded", flush=True)
    return queued


async def _progress(url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:
        return await seed_progress(conn)


def report_progress(url: str, interval: float = 15.0, stop: threading.Event | None = None) -> bool:
    """Prints seed progress until every seeded book is completed or failed; True if all completed."""
    stop = stop or threading.Event()
    last = ""
    while not stop.is_set():
        try:
            p = asyncio.run(_progress(url))
        except psycopg.Error:
            return False
        line = (
            f"==> seed progress: {p['completed']}/{p['documents']} books completed, "
            f"{p['chunks_done']}/{p['chunks_total']} chunks embedded"
            + (f", {p['failed']} failed" if p["failed"] else "")
        )
        if line != last:
            print(line, flush=True)
            last = line
        if p["documents"] and p["completed"] + p["failed"] == p["documents"]:
            return p["failed"] == 0
        stop.wait(interval)
    return False


def report_progress_in_background(url: str) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=report_progress, args=(url, 15.0, stop), daemon=True).start()
    return stop


def seed_and_wait(settings: Settings, url: str, env: dict[str, str]) -> int:
    """`make seed`: queue the books, run a worker until they are processed, print progress."""
    seed(settings, url)
    sup = Supervisor()
    try:
        worker = start_worker(sup, env)
        started = time.perf_counter()
        ok = report_progress(url, interval=5.0)
        if worker.proc.poll() is not None:
            return 1
        print(f"==> seed finished in {time.perf_counter() - started:.0f}s", flush=True)
        return 0 if ok else 1
    finally:
        sup.stop_all()
