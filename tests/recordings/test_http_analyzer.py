"""ANALYSIS_PROVIDER=http: the real client code against a local server speaking the contract
(service/analysis/http.py), in the worker end to end and failure by failure."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from service.analysis.dimensions import NAMES
from service.analysis.http import NOT_SCORED, HttpAnalyzer
from service.analysis.result import AnalysisError, AnalysisResult
from service.core.config import Settings
from service.recordings.jobs import audio_ref
from service.repositories.recordings import RecordingRow
from service.storage import ObjectStore
from tests.factories import Accounts
from tests.recordings.conftest import Takes, upload, wait_finished
from tests.recordings.fake_model_service import MODEL, SCORED, TOKEN, FakeModelService, Step


@pytest.fixture
def model_service() -> Iterator[FakeModelService]:
    fake = FakeModelService()
    yield fake
    fake.close()


def test_the_worker_scores_through_the_model_service(
    model_service: FakeModelService,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    client: httpx.Client,
    accounts: Accounts,
    takes: Takes,
) -> None:
    start_worker(
        "http-analysis",
        ANALYSIS_PROVIDER="http",
        ANALYSIS_HTTP_URL=model_service.url + "/",
        ANALYSIS_HTTP_TOKEN=TOKEN,
        ANALYSIS_BACKOFF_SECONDS="0",
    )
    model_service.script.append(Step(status=503, retry_after="0"))  # retried
    student = accounts.create("student")
    data = takes["swell", "m4a"]
    rid = upload(client, student, data, "swell.m4a").json()["id"]
    done = wait_finished(client, student, rid)
    assert done["status"] == "completed", done
    analysis = client.get(f"/api/v1/recordings/{rid}/analysis", headers=student.headers).json()

    assert analysis["analyzer"] == {"name": f"http/{MODEL['name']}", "version": MODEL["version"]}
    assert set(analysis["scores"]) == set(NAMES)
    assert analysis["scores"]["timing_stable_unstable"] == 0.2
    assert analysis["scores"]["pedal_clean_blurred"] is None
    assert analysis["reasons"]["pedal_clean_blurred"] == "Too little pedal to judge."
    left_out = set(NAMES) - set(SCORED)
    assert left_out and all(analysis["reasons"][n] == NOT_SCORED for n in left_out)
    assert analysis["segments"][0]["label"] == "0:00-0:03"
    assert analysis["segments"][1]["scores"]["timing_stable_unstable"] == 0.21
    assert "model service" in analysis["definitions"]["timing_stable_unstable"]["computation"]

    first, second = model_service.requests
    assert first == second  # the retry sent the same request
    assert first["recording_id"] == rid and first["format"] == "m4a"
    assert first["content_type"] == "audio/mp4" and first["segment_seconds"] == 3.0
    assert first["dimensions"] == list(NAMES)
    assert first["duration_seconds"] == done["duration_seconds"]
    assert model_service.fetched == [len(data)]  # it really fetched the stored audio


# ---- failure by failure, the real client in-process -----------------------------------------


@pytest.fixture
def stored(settings: Settings, takes: Takes) -> RecordingRow:
    """A recording's object in the test S3 server, as the worker would hand it over."""
    rid = uuid.uuid4()
    key = f"recordings/tests/{rid}.wav"
    store = ObjectStore(settings)
    store.ensure_buckets()
    store.put_bytes(settings.storage.bucket_projects, key, takes["steady", "wav"], "audio/wav")
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return RecordingRow(
        id=rid, user_id=uuid.uuid4(), original_filename="steady.wav", format="wav",
        codec="pcm_s16le", storage_key=key, size_bytes=1, sha256="0" * 64,
        duration_seconds=9.475, sample_rate=44100, channels=1, status="analyzing",
        error_code=None, error_message=None, analysis_started_at=now,
        analysis_finished_at=None, created_at=now, updated_at=now,
    )  # fmt: skip


def _analyze(
    settings: Settings, fake: FakeModelService, row: RecordingRow, **overrides: object
) -> AnalysisResult:
    config = settings.model_copy(
        update={
            "analysis_provider": "http",
            "analysis_http_url": fake.url,
            "analysis_http_token": TOKEN,
            "analysis_backoff_seconds": 0,
            **overrides,
        }
    )
    analyzer = HttpAnalyzer(config)
    store = ObjectStore(config)

    async def run() -> AnalysisResult:
        try:
            return await analyzer.analyze(audio_ref(row, store, config.storage.bucket_projects))
        finally:
            await analyzer.aclose()

    return asyncio.run(run())


def _refused(
    settings: Settings, fake: FakeModelService, row: RecordingRow, **kw: object
) -> AnalysisError:
    with pytest.raises(AnalysisError) as caught:
        _analyze(settings, fake, row, **kw)
    return caught.value


def test_a_good_answer_becomes_the_result(
    settings: Settings, model_service: FakeModelService, stored: RecordingRow
) -> None:
    result = _analyze(settings, model_service, stored)
    assert result.analyzer == "http/percepiano-16" and result.analyzer_version == "2024.06"
    assert [s.label for s in result.segments] == [
        "0:00-0:03",
        "0:03-0:06",
        "0:06-0:09",
        "0:09-0:10",
    ]
    assert len(model_service.requests) == 1


def test_5xx_and_429_are_retried_until_the_attempts_run_out(
    settings: Settings, model_service: FakeModelService, stored: RecordingRow
) -> None:
    model_service.script.extend([Step(429, retry_after="0"), Step(502), Step(503)])
    error = _refused(settings, model_service, stored, analysis_max_attempts=3)
    assert error.code == "analysis_service_failed" and "3 attempts" in error.message
    assert len(model_service.requests) == 3


def test_a_slow_service_times_out_and_is_retried(
    settings: Settings, model_service: FakeModelService, stored: RecordingRow
) -> None:
    model_service.script.extend([Step(delay=2.0), Step(delay=2.0)])
    error = _refused(
        settings, model_service, stored, analysis_timeout_seconds=0.5, analysis_max_attempts=2
    )
    assert error.code == "analysis_service_failed" and "could not be reached" in error.message
    assert len(model_service.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 422])
def test_a_4xx_is_not_retried(
    settings: Settings, model_service: FakeModelService, stored: RecordingRow, status: int
) -> None:
    model_service.script.append(Step(status))
    error = _refused(settings, model_service, stored)
    assert error.code == "analysis_service_failed" and f"HTTP {status}" in error.message
    assert len(model_service.requests) == 1


def test_a_wrong_token_is_refused_by_the_service(
    settings: Settings, model_service: FakeModelService, stored: RecordingRow
) -> None:
    error = _refused(settings, model_service, stored, analysis_http_token="wrong")
    assert "HTTP 401" in error.message


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"model": MODEL, "scores": {"made_up_dimension": 0.5}}, "scores"),
        ({"model": MODEL, "scores": {"timing_stable_unstable": 1.5}}, "scores"),
        ({"model": MODEL, "scores": {"timing_stable_unstable": "high"}}, "scores"),
        ({"scores": {}}, "model"),
        ("not an object", ""),
        (
            {
                "model": MODEL,
                "scores": {},
                "segments": [
                    {"start_seconds": 3, "end_seconds": 6, "scores": {}},
                    {"start_seconds": 0, "end_seconds": 3, "scores": {}},
                ],
            },
            "overlap",
        ),
        (
            {
                "model": MODEL,
                "scores": {},
                "segments": [{"start_seconds": 0, "end_seconds": 60, "scores": {}}],
            },
            "beyond",
        ),
    ],
)
def test_an_answer_that_breaks_the_contract_fails_the_analysis(
    settings: Settings,
    model_service: FakeModelService,
    stored: RecordingRow,
    body: object,
    where: str,
) -> None:
    model_service.script.append(Step(body=body))
    error = _refused(settings, model_service, stored)
    assert error.code == "analysis_service_bad_answer" and where in error.message
    assert len(model_service.requests) == 1


def test_http_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ANALYSIS_HTTP_URL"):
        Settings.with_values(analysis_provider="http", analysis_http_url="", local_dir=tmp_path)
