"""Analysis jobs on the PostgreSQL job queue: queued on upload and on request, one at a time
per recording, run by `python -m service.worker` with the configured analyser.

Status: uploaded (queued) -> analyzing (the worker took it) -> completed | failed (with the
reason). A job whose worker dies is retried by the worker's stalled-job check and starts over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID

from procrastinate import App, Blueprint, JobContext
from procrastinate.exceptions import AlreadyEnqueued

from service.analysis.base import Analyzer, AudioRef
from service.analysis.factory import build_analyzer
from service.analysis.result import AnalysisError, AnalysisResult
from service.core.config import Settings
from service.core.db import Pool
from service.knowledge.queue import RUNTIME_KEY, WorkerRuntime
from service.observability.metrics import ANALYSIS_DURATION, ANALYSIS_JOBS
from service.recordings.formats import FORMATS
from service.repositories import recordings as repo
from service.repositories.recordings import RecordingRow
from service.storage import ObjectStore

log = logging.getLogger(__name__)

QUEUE = "recordings"
NAMESPACE = "recordings"
ANALYZE_TASK = f"{NAMESPACE}:analyze_recording"

tasks = Blueprint()


async def enqueue_analysis(app: App, recording_id: UUID) -> int | None:
    """At most one queued job per recording; a second request while one waits is a no-op."""
    key = f"recording-analysis:{recording_id}"
    try:
        return await app.configure_task(
            ANALYZE_TASK, queue=QUEUE, lock=key, queueing_lock=key
        ).defer_async(recording_id=str(recording_id))
    except AlreadyEnqueued:
        log.info("analysis already queued", extra={"recording_id": str(recording_id)})
        return None


def audio_ref(row: RecordingRow, store: ObjectStore, bucket: str) -> AudioRef:
    def download(path: object) -> None:
        with open(str(path), "wb") as out:
            store.download_to(bucket, row.storage_key, out)

    return AudioRef(
        recording_id=row.id,
        format=row.format,
        content_type=FORMATS[row.format].content_type,
        duration_seconds=row.duration_seconds,
        sample_rate=row.sample_rate,
        channels=row.channels,
        presign=lambda ttl: store.presign_get(bucket, row.storage_key, ttl),
        download=download,
    )


def stored_values(recording_id: UUID, result: AnalysisResult) -> dict[str, object]:
    return {
        "recording_id": recording_id,
        "analyzer": result.analyzer,
        "analyzer_version": result.analyzer_version,
        "duration_seconds": result.duration_seconds,
        "segment_seconds": result.segment_seconds,
        "scores": result.overall.scores,
        "reasons": result.overall.reasons,
        "measurements": result.overall.measurements,
        "segments": [s.as_json() for s in result.segments],
        "definitions": {d.name: d.as_json() for d in result.definitions},
    }


async def run_analysis(
    settings: Settings, pool: Pool, store: ObjectStore, analyzer: Analyzer, recording_id: UUID
) -> str:
    """One analysis, start to stored result. Returns the outcome; unexpected errors are
    recorded on the recording and raised, so the job shows as failed too."""
    async with pool.connection() as conn:
        row = await repo.mark_analyzing(conn, recording_id)
    if row is None:
        log.info("nothing to analyse", extra={"recording_id": str(recording_id)})
        return "skipped"
    started = time.monotonic()
    bucket = settings.storage.bucket_projects
    try:
        result = await analyzer.analyze(audio_ref(row, store, bucket))
    except AnalysisError as exc:
        async with pool.connection() as conn:
            await repo.mark_failed(conn, recording_id, exc.code, exc.message)
        log.info("analysis failed", extra={"recording_id": str(recording_id), "code": exc.code})
        return "failed"
    except Exception:
        async with pool.connection() as conn:
            await repo.mark_failed(
                conn, recording_id, "analysis_error", "The analysis failed unexpectedly."
            )
        raise
    finally:
        ANALYSIS_DURATION.labels(analyzer.name).observe(time.monotonic() - started)
    async with pool.connection() as conn:
        saved = await repo.save_analysis(conn, stored_values(recording_id, result))
    log.info(
        "analysis stored" if saved else "recording deleted during its analysis",
        extra={"recording_id": str(recording_id), "analyzer": result.analyzer},
    )
    return "completed" if saved else "skipped"


class _Analysis:
    """The worker's analyser and store, built on first use and kept for its lifetime (the
    local analyser's compiled code stays warm between jobs)."""

    def __init__(self) -> None:
        self.parts: tuple[Settings, ObjectStore, Analyzer] | None = None
        self.lock = asyncio.Lock()

    async def for_settings(self, settings: Settings) -> tuple[ObjectStore, Analyzer]:
        async with self.lock:
            if self.parts is None or self.parts[0] is not settings:
                self.parts = (settings, ObjectStore(settings), build_analyzer(settings))
            return self.parts[1], self.parts[2]


_analysis = _Analysis()


@tasks.task(name="analyze_recording", queue=QUEUE, pass_context=True)
async def analyze_recording_task(context: JobContext, recording_id: str) -> None:
    runtime = context.additional_context.get(RUNTIME_KEY)
    if not isinstance(runtime, WorkerRuntime):
        raise RuntimeError("worker runtime missing from the job context")
    store, analyzer = await _analysis.for_settings(runtime.settings)
    try:
        outcome = await run_analysis(
            runtime.settings, runtime.pool, store, analyzer, UUID(recording_id)
        )
    except Exception:
        ANALYSIS_JOBS.labels(analyzer.name, "error").inc()
        raise
    ANALYSIS_JOBS.labels(analyzer.name, outcome).inc()
