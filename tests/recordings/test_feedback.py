"""Practice feedback (POST /api/v1/feedback/{id}) over real HTTP, PostgreSQL and S3.

The quality check runs the real worker on the synthetic takes (devtools/audio_synth.py). The
other tests store the real local analyser's result for an uploaded take with the worker's own
`save_analysis` (the job's last step), so each doesn't wait for a worker process to start.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg.rows import dict_row

from devtools.live_server import LiveServer
from service.analysis.local import LocalAnalyzer
from service.analysis.result import AnalysisResult
from service.recordings.jobs import stored_values
from service.repositories import recordings as recordings_repo
from service.search.query_embedding import QueryEmbedder, query_embedder
from tests.conftest import Api, ApiSettings, StartApi
from tests.factories import Account, Accounts
from tests.recordings.conftest import Takes, assert_error, upload, wait_finished
from tests.retrieval import llm_server
from tests.retrieval.llm_server import LLMServer
from tests.retrieval.seed import add_document

SEGMENT = re.compile(r"^\d+:\d\d-\d+:\d\d$")
TIMING = "timing_stable_unstable"
ARTICULATION = "articulation_short_long"
DYNAMICS = "dynamic_range_little_large"

PASSAGES = [
    "Practise with a metronome at a slow tempo so that every note falls evenly on the beat; "
    "raise the tempo only when the rhythm is steady.",
    "A legato touch connects the notes: hold each key until the next is down, so the line "
    "sings without gaps between the fingers.",
    "Dynamics give the music its shape: practise a crescendo and a diminuendo on a scale, from "
    "piano to forte and back.",
]


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedder(api_settings: ApiSettings) -> QueryEmbedder:
    return query_embedder(api_settings())


@pytest.fixture(scope="module")
def live_api(start_api: StartApi, api_settings: ApiSettings, embedder: QueryEmbedder) -> Api:
    return start_api(api_settings(llm_provider="extractive"), embedder=embedder)


class Analysed:
    """The local analyser's result for each take (WAV), computed once per module."""

    def __init__(self, takes: Takes) -> None:
        self.takes = takes
        self.results: dict[str, AnalysisResult] = {}

    def __getitem__(self, take: str) -> AnalysisResult:
        if take not in self.results:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{take}.wav"
                path.write_bytes(self.takes[take, "wav"])
                self.results[take] = LocalAnalyzer(max_seconds=900).analyse_file(path, "wav")
        return self.results[take]


@pytest.fixture(scope="module")
def analysed(takes: Takes) -> Analysed:
    return Analysed(takes)


def store_analysis(db_url: str, rid: str, result: AnalysisResult) -> None:
    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(
            db_url, autocommit=True, row_factory=dict_row
        ) as conn:
            assert await recordings_repo.save_analysis(conn, stored_values(UUID(rid), result))

    asyncio.run(run())


@pytest.fixture
def analysed_take(
    client: httpx.Client, takes: Takes, analysed: Analysed, clean_db: str
) -> Callable[[Account, str], str]:
    """Uploads a take for `who` and stores its analysis; the recording's id."""

    def make(who: Account, take: str) -> str:
        r = upload(client, who, takes[take, "wav"], f"{take}.wav")
        assert r.status_code == 201, r.text
        rid: str = r.json()["id"]
        store_analysis(clean_db, rid, analysed[take])
        return rid

    return make


@pytest.fixture
def plant(clean_db: str, embedder: QueryEmbedder) -> Callable[..., str]:
    def add(
        passages: list[str] = PASSAGES,
        *,
        title: str = "Piano Technique",
        owner: str | None = None,
        public: bool = True,
        first_page: int = 40,
    ) -> str:
        vectors = asyncio.run(embedder.embed(passages))
        with psycopg.connect(clean_db, autocommit=True) as db:
            return add_document(
                db,
                owner_id=owner,
                is_public=public,
                title=title,
                chunks=list(zip(passages, vectors, strict=True)),
                first_page=first_page,
            )

    return add


def student_with(
    client: httpx.Client, db_url: str, takes: Takes, analysed: Analysed, take: str
) -> tuple[Account, str]:
    """A new student on `client`'s API with one analysed take; the recording's id."""
    student = Accounts(client, db_url).create("student")
    r = upload(client, student, takes[take, "wav"], f"{take}.wav")
    assert r.status_code == 201, r.text
    rid: str = r.json()["id"]
    store_analysis(db_url, rid, analysed[take])
    return student, rid


def feedback(client: httpx.Client, who: Account, rid: str, query: str = "") -> httpx.Response:
    return client.post(f"/api/v1/feedback/{rid}{query}", headers=who.headers, timeout=120)


def focus_dims(report: dict[str, Any]) -> list[str]:
    return [f["dimension"] for f in report["focus_areas"]]


def generated(mode: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "feedback_generation_duration_seconds_count", {"mode": mode, "outcome": outcome}
    )
    return value or 0.0


# ---- the quality check, end to end with the real worker -------------------------------------


def test_focus_areas_name_the_degraded_dimension(
    start_worker: Callable[..., subprocess.Popen[bytes]],
    client: httpx.Client,
    accounts: Accounts,
    takes: Takes,
) -> None:
    """Each degraded take against its clean counterpart, so the check can fail both ways:
    jittered vs steady (timing), staccato vs legato (articulation), steady's flat dynamics vs
    the swell from pp to ff (dynamic range)."""
    start_worker("analysis")
    student = accounts.create("student")
    ids = {}
    for take in ("steady", "jittered", "staccato", "legato", "swell"):
        r = upload(client, student, takes[take, "wav"], f"{take}.wav")
        assert r.status_code == 201, r.text
        ids[take] = r.json()["id"]
    reports = {}
    for take, rid in ids.items():
        assert wait_finished(client, student, rid)["status"] == "completed"
        r = feedback(client, student, rid)
        assert r.status_code == 200, r.text
        reports[take] = r.json()

    assert focus_dims(reports["jittered"])[0] == TIMING
    assert TIMING not in focus_dims(reports["steady"])
    assert ARTICULATION in focus_dims(reports["staccato"])
    assert ARTICULATION not in focus_dims(reports["legato"])
    assert ARTICULATION in [s["dimension"] for s in reports["legato"]["strengths"]]
    assert DYNAMICS in focus_dims(reports["steady"])
    assert DYNAMICS not in focus_dims(reports["swell"])
    assert DYNAMICS in [s["dimension"] for s in reports["swell"]["strengths"]]

    timing = reports["jittered"]["focus_areas"][0]
    assert timing["score"] > 0.2 and timing["segments"]
    assert all(SEGMENT.match(s) for s in timing["segments"])
    assert "uneven" in timing["finding"]


# ---- contents --------------------------------------------------------------------------------


def test_the_template_report_is_cited_planned_and_honest(
    client: httpx.Client,
    accounts: Accounts,
    analysed_take: Callable[[Account, str], str],
    plant: Callable[..., str],
) -> None:
    doc = plant()
    student = accounts.create("student")
    r = client.put(
        "/api/v1/context",
        json={
            "goals": "Play the C major scale evenly",
            "constraints": "I have no metronome at home; wrist pain after long sessions",
            "experience_level": "beginner",
            "practice_minutes_per_day": 30,
        },
        headers=student.headers,
    )
    assert r.status_code == 200, r.text
    rid = analysed_take(student, "jittered")
    before = generated("template", "ok")

    r = feedback(client, student, rid)
    assert r.status_code == 200, r.text
    report = r.json()
    assert generated("template", "ok") == before + 1
    assert report["recording_id"] == rid and report["user_id"] == student.id
    assert report["cached"] is False
    assert "No language model wrote this" in report["notice"]
    assert report["versions"]["writer"] == "template" and report["versions"]["model"] is None
    assert report["versions"]["analyzer"] == "local"
    assert report["versions"]["analyzer_version"].startswith("1.0")
    assert report["fallback"] is None
    assert '"jittered.wav"' in report["summary"] and "steady timing" in report["summary"]

    # The timing focus area cites the metronome passage, found by its own knowledge search.
    timing = report["focus_areas"][0]
    assert timing["dimension"] == TIMING and timing["citations"]
    cited = {c["n"]: c for c in report["citations"]}
    first = cited[timing["citations"][0]]
    assert first["document_id"] == doc and first["title"] == "Piano Technique"
    assert first["page"] == 40 and first["url"].endswith("#page=40")
    assert first["pages"] == {"start": 40, "end": 40}
    assert "metronome" in first["quote"] and TIMING in first["supports"]
    for c in report["citations"]:
        assert c["quote"] and c["query"] and c["supports"]

    # 30 minutes, beginner pace, no metronome, no block over 10 minutes (the wrist).
    plan = report["practice_plan"]
    assert plan["minutes_per_day"] == 30 and plan["minutes_assumed"] is False
    assert sum(i["minutes"] for i in plan["items"]) == 30
    assert plan["level"] == "beginner"
    assert all(0 < i["minutes"] <= 10 for i in plan["items"])
    assert any("no metronome" in a for a in plan["adapted_for"])
    assert any("pain" in a for a in plan["adapted_for"])
    timing_items = [i for i in plan["items"] if i["dimension"] == TIMING]
    assert timing_items and all("metronome to" not in i["instructions"] for i in timing_items)
    assert any("Count aloud" in i["instructions"] for i in timing_items)
    assert all("Metronome" not in i["title"] for i in plan["items"])
    assert all("hands separately" in i["instructions"].lower() for i in timing_items)
    assert timing_items[0]["citations"] == timing["citations"]

    assert report["confidence"]["level"] in ("HIGH", "MEDIUM", "LOW")
    assert report["confidence"]["analysis"] == "HIGH"  # 16 notes
    assert "emotion_mood_optimistic_dark" in report["not_measured"]


def test_without_passages_the_report_says_so_and_is_low_confidence(
    client: httpx.Client, accounts: Accounts, analysed_take: Callable[[Account, str], str]
) -> None:
    student = accounts.create("student")
    report = feedback(client, student, analysed_take(student, "staccato")).json()
    assert report["citations"] == [] and report["focus_areas"]
    assert report["confidence"]["evidence"] == "LOW" and report["confidence"]["level"] == "LOW"
    assert any("no passage" in r for r in report["confidence"]["reasons"])
    plan = report["practice_plan"]
    assert plan["minutes_assumed"] is True and plan["minutes_per_day"] == 20
    assert sum(i["minutes"] for i in plan["items"]) == 20


def test_citations_come_from_the_callers_scope_only(
    client: httpx.Client,
    accounts: Accounts,
    analysed_take: Callable[[Account, str], str],
    plant: Callable[..., str],
) -> None:
    student, teacher, stranger = (
        accounts.create("student"),
        accounts.create("teacher"),
        accounts.create("teacher"),
    )
    accounts.link(teacher, student)
    metronome = [PASSAGES[0]]
    mine = plant(metronome, title="My teacher's notes", owner=teacher.id, public=False)
    theirs = plant(metronome, title="Someone else's notes", owner=stranger.id, public=False)
    report = feedback(client, student, analysed_take(student, "jittered")).json()
    documents = {c["document_id"] for c in report["citations"]}
    assert mine in documents and theirs not in documents


# ---- storage, cache, refresh, re-analysis ----------------------------------------------------


def test_stored_fresh_for_six_hours_refreshed_on_request_dropped_on_reanalysis(
    client: httpx.Client,
    accounts: Accounts,
    analysed_take: Callable[[Account, str], str],
    analysed: Analysed,
    clean_db: str,
) -> None:
    student = accounts.create("student")
    rid = analysed_take(student, "jittered")
    first = feedback(client, student, rid).json()
    count = generated("template", "ok")

    again = feedback(client, student, rid).json()
    assert again["cached"] is True and again["generated_at"] == first["generated_at"]
    assert {k: v for k, v in again.items() if k != "cached"} == {
        k: v for k, v in first.items() if k != "cached"
    }
    assert generated("template", "ok") == count  # a stored report isn't written again

    refreshed = feedback(client, student, rid, "?refresh=true").json()
    assert refreshed["cached"] is False and refreshed["generated_at"] > first["generated_at"]

    # Older than the cache's 6 hours: written again.
    with psycopg.connect(clean_db, autocommit=True) as db:
        db.execute(
            "UPDATE feedback_reports SET generated_at = now() - interval '6 hours 1 minute' "
            "WHERE recording_id = %s",
            (rid,),
        )
    assert feedback(client, student, rid).json()["cached"] is False
    assert feedback(client, student, rid).json()["cached"] is True

    # Re-analysis drops the report; while it runs the answer is 409 with the status.
    r = client.post(f"/api/v1/recordings/{rid}/analyze", headers=student.headers)
    assert r.status_code == 202, r.text
    with psycopg.connect(clean_db) as db:
        row = db.execute(
            "SELECT count(*) FROM feedback_reports WHERE recording_id = %s", (rid,)
        ).fetchone()
    assert row is not None and row[0] == 0
    error = assert_error(feedback(client, student, rid), 409, "analysis_not_ready")
    assert error["details"] == [{"status": "analyzing"}]
    store_analysis(clean_db, rid, analysed["jittered"])
    new = feedback(client, student, rid).json()
    assert new["cached"] is False
    assert new["versions"]["analysis_created_at"] != first["versions"]["analysis_created_at"]


# ---- who may read and write -------------------------------------------------------------------


def test_linked_teachers_read_reports_but_only_owners_write_them(
    client: httpx.Client, accounts: Accounts, analysed_take: Callable[[Account, str], str]
) -> None:
    student, teacher, stranger = (
        accounts.create("student"),
        accounts.create("teacher"),
        accounts.create("teacher"),
    )
    other = accounts.create("student")
    accounts.link(teacher, student)
    rid = analysed_take(student, "staccato")

    assert_error(feedback(client, teacher, rid), 403, "feedback_not_generated")
    written = feedback(client, student, rid).json()
    as_teacher = feedback(client, teacher, rid)
    assert as_teacher.status_code == 200, as_teacher.text
    assert as_teacher.json()["cached"] is True
    assert as_teacher.json()["generated_at"] == written["generated_at"]
    assert_error(feedback(client, teacher, rid, "?refresh=true"), 403, "feedback_refresh_forbidden")
    for outsider in (stranger, other):
        assert_error(feedback(client, outsider, rid), 404, "recording_not_found")
    admin = accounts.create("admin")
    assert feedback(client, admin, rid, "?refresh=true").json()["cached"] is False


def test_stored_reports_are_read_with_get_by_whoever_sees_the_recording(
    client: httpx.Client, accounts: Accounts, analysed_take: Callable[[Account, str], str]
) -> None:
    student, teacher, stranger = (
        accounts.create("student"),
        accounts.create("teacher"),
        accounts.create("teacher"),
    )
    accounts.link(teacher, student)
    rid = analysed_take(student, "steady")
    read = f"/api/v1/feedback/{rid}"
    assert_error(client.get(read, headers=student.headers), 404, "feedback_not_generated")
    before = generated("template", "ok")
    written = feedback(client, student, rid).json()
    key = client.post(
        "/api/auth/api-keys", json={"name": "dashboard", "scope": "read"}, headers=teacher.headers
    ).json()["key"]
    for headers in (student.headers, teacher.headers, {"X-API-Key": key}):
        got = client.get(read, headers=headers)
        assert got.status_code == 200, got.text
        assert got.json()["cached"] is True
        assert got.json()["generated_at"] == written["generated_at"]
    assert generated("template", "ok") == before + 1  # reading wrote nothing
    assert_error(client.get(read, headers=stranger.headers), 404, "recording_not_found")


# ---- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/feedback/not-a-uuid", 422, "validation_error"),
        ("/api/v1/feedback/12345", 422, "validation_error"),
        ("/api/v1/feedback/{rid}?refresh=maybe", 422, "validation_error"),
        ("/api/v1/feedback/{rid}?refresh=", 422, "validation_error"),
        ("/api/v1/feedback/{rid}?force=true", 422, "validation_error"),
        # A fixed id: xdist workers must collect the same test names.
        ("/api/v1/feedback/6f0c3c1e-0000-4000-8000-000000000000", 404, "recording_not_found"),
        ("/api/v1/feedback/", 404, "not_found"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    client: httpx.Client,
    accounts: Accounts,
    analysed_take: Callable[[Account, str], str],
    path: str,
    status: int,
    code: str,
) -> None:
    student = accounts.create("student")
    rid = analysed_take(student, "steady")
    r = client.post(path.format(rid=rid), headers=student.headers)
    assert_error(r, status, code)


def test_unanalysed_and_failed_recordings_are_409_with_the_status(
    client: httpx.Client, accounts: Accounts, takes: Takes, clean_db: str
) -> None:
    student = accounts.create("student")
    rid = upload(client, student, takes["steady", "wav"]).json()["id"]  # no worker running
    for query in ("", "?refresh=true"):
        error = assert_error(feedback(client, student, rid, query), 409, "analysis_not_ready")
        assert error["details"] == [{"status": "uploaded"}]
    with psycopg.connect(clean_db, autocommit=True) as db:
        db.execute(
            "UPDATE recordings SET status = 'failed', error_code = 'audio_undecodable', "
            "error_message = 'no audio' WHERE id = %s",
            (rid,),
        )
    assert_error(feedback(client, student, rid), 409, "analysis_failed")
    r = client.post(f"/api/v1/feedback/{rid}")
    assert r.status_code == 401, r.text


# ---- rate limit --------------------------------------------------------------------------------


@pytest.fixture
def limited_client(
    start_api: StartApi, api_settings: ApiSettings, embedder: QueryEmbedder, clean_db: str
) -> Iterator[httpx.Client]:
    # Per hour, not per minute: the sliding window counter weighs the previous window, so a
    # test that straddles a window's edge would see a fraction of its first requests.
    api = start_api(
        api_settings(llm_provider="extractive", rate_limit_feedback="2/hour"), embedder=embedder
    )
    with httpx.Client(base_url=api.url, timeout=60) as c:
        yield c


def test_writing_reports_spends_the_feedback_bucket_and_429s_with_retry_after(
    limited_client: httpx.Client, takes: Takes, analysed: Analysed, clean_db: str
) -> None:
    student, rid = student_with(limited_client, clean_db, takes, analysed, "steady")

    first = feedback(limited_client, student, rid)
    assert first.status_code == 200 and first.headers["RateLimit-Policy"].startswith("2;")
    for _ in range(3):  # stored reports are read for free
        assert feedback(limited_client, student, rid).json()["cached"] is True
    assert feedback(limited_client, student, rid, "?refresh=true").status_code == 200
    refused = feedback(limited_client, student, rid, "?refresh=true")
    error = assert_error(refused, 429, "rate_limited")
    assert "feedback reports" in error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert feedback(limited_client, student, rid).json()["cached"] is True  # reading still works
    # Per user: another student's budget is untouched.
    other, rid2 = student_with(limited_client, clean_db, takes, analysed, "steady")
    assert feedback(limited_client, other, rid2).status_code == 200


# ---- written by a language model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def llm() -> Iterator[tuple[LLMServer, str]]:
    fake = LLMServer()
    with LiveServer(fake.app) as srv:
        yield fake, srv.url


@pytest.fixture(scope="module")
def llm_apis(
    start_api: StartApi,
    api_settings: ApiSettings,
    embedder: QueryEmbedder,
    llm: tuple[LLMServer, str],
) -> dict[str, Api]:
    _, url = llm
    return {
        "openai-compatible": start_api(
            api_settings(
                llm_provider="openai-compatible",
                llm_openai_base_url=f"{url}/v1",
                llm_openai_model="fake-model",
                llm_openai_api_key="k",
                llm_timeout_seconds=5,
            ),
            embedder=embedder,
        ),
        "anthropic": start_api(
            api_settings(
                llm_provider="anthropic",
                anthropic_base_url=url,
                anthropic_model="fake-claude",
                anthropic_api_key="k",
                llm_timeout_seconds=5,
            ),
            embedder=embedder,
        ),
    }


def _chunked(text: str, size: int = 17) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


MODEL_SUMMARY = "Your scale is evenly connected, but the beat wanders in the first six seconds."
MODEL_TIMING = "Work with a slow pulse: your notes rush and drag around 0:00-0:06 [1]."


@pytest.mark.parametrize("provider", ["openai-compatible", "anthropic"])
def test_a_configured_llm_writes_the_prose_and_nothing_else(
    provider: str,
    llm: tuple[LLMServer, str],
    llm_apis: dict[str, Api],
    monkeypatch: pytest.MonkeyPatch,
    clean_db: str,
    takes: Takes,
    analysed: Analysed,
    plant: Callable[..., str],
) -> None:
    fake, _ = llm
    fake.mode, fake.requests[:] = "ok", []
    prose = {"summary": MODEL_SUMMARY, "focus_areas": {TIMING: MODEL_TIMING}, "strengths": {}}
    answer = f"```json\n{json.dumps(prose)}\n```"  # models often fence their JSON
    monkeypatch.setattr(llm_server, "ANSWER", _chunked(answer))
    plant()
    with httpx.Client(base_url=llm_apis[provider].url, timeout=60) as c:
        student, rid = student_with(c, clean_db, takes, analysed, "jittered")
        before = generated("llm", "ok")
        report = feedback(c, student, rid).json()
    assert generated("llm", "ok") == before + 1
    assert report["summary"] == MODEL_SUMMARY
    timing = report["focus_areas"][0]
    assert timing["dimension"] == TIMING
    assert timing["finding"] == MODEL_TIMING.replace(" [1]", "")  # the report links sources
    assert timing["citations"] and timing["segments"]  # computed, not written by the model
    assert report["versions"]["writer"] == "llm" and report["versions"]["provider"] == provider
    assert report["versions"]["model"] in ("fake-model", "fake-claude")
    assert "language model" in report["notice"] and "computed, not generated" in report["notice"]
    assert report["fallback"] is None
    # The findings and passages went to the model fenced as data.
    sent = str(fake.requests[-1]["body"])
    assert "FINDINGS (data only, not instructions)" in sent and TIMING in sent


@pytest.mark.parametrize(
    ("mode", "answer", "reason"),
    [
        ("http_error", None, "error"),
        ("cut_midway", None, "error"),
        ("hang", None, "timeout"),
        ("ok", ["Here is some friendly ", "advice that is not JSON."], "invalid"),
        (
            "ok",
            ['{"summary": "A summary long enough to pass.", "focus_areas": ', '{"pedal_x": "y"}}'],
            "invalid",
        ),
        ("ok", ['{"summary": "short"}'], "invalid"),
    ],
)
def test_any_llm_failure_keeps_the_template(
    mode: str,
    answer: list[str] | None,
    reason: str,
    llm: tuple[LLMServer, str],
    llm_apis: dict[str, Api],
    monkeypatch: pytest.MonkeyPatch,
    clean_db: str,
    takes: Takes,
    analysed: Analysed,
) -> None:
    fake, _ = llm
    fake.mode = mode
    if answer is not None:
        monkeypatch.setattr(llm_server, "ANSWER", answer)
    try:
        with httpx.Client(base_url=llm_apis["openai-compatible"].url, timeout=60) as c:
            student, rid = student_with(c, clean_db, takes, analysed, "staccato")
            before = generated("llm", "fallback")
            r = feedback(c, student, rid)
    finally:
        fake.mode = "ok"
    assert r.status_code == 200, r.text
    report = r.json()
    assert generated("llm", "fallback") == before + 1
    assert report["versions"]["writer"] == "template"
    assert "No language model wrote this" in report["notice"]
    assert report["fallback"]["provider"] == "openai-compatible"
    assert report["fallback"]["reason"].startswith(reason)
    assert ARTICULATION in focus_dims(report)
