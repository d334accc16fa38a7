"""Recordings through the real API: listing (pagination, filters, sorting, bad parameters), who
sees what (the access rule), deleting, and the analysis end to end with a real worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from devtools.live_server import LiveServer
from service.app import create_app
from service.core.config import Settings
from tests.factories import Account, Accounts
from tests.recordings.conftest import Leftovers, Takes, assert_error, upload, wait_finished


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


def _backdate(db_url: str, recording_id: str, days: int) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE recordings SET created_at = %s WHERE id = %s",
            (datetime.now(UTC) - timedelta(days=days), recording_id),
        )


def test_list_paginates_filters_and_sorts(
    client: httpx.Client, accounts: Accounts, takes: Takes, clean_db: str
) -> None:
    student = accounts.create("student")
    made = {}
    for name, fmt, take in [
        ("b-legato.wav", "wav", "legato"),
        ("a-steady.mp3", "mp3", "steady"),
        ("c-swell.m4a", "m4a", "swell"),
    ]:
        r = upload(client, student, takes[take, fmt], name)
        assert r.status_code == 201, r.text
        made[name] = r.json()
    _backdate(clean_db, made["b-legato.wav"]["id"], 10)
    _backdate(clean_db, made["a-steady.mp3"]["id"], 5)
    h = student.headers

    page = client.get("/api/v1/recordings", headers=h).json()
    assert (page["total"], page["page"], page["limit"]) == (3, 1, 20)
    # Newest first by default.
    assert [i["original_filename"] for i in page["items"]] == [
        "c-swell.m4a",
        "a-steady.mp3",
        "b-legato.wav",
    ]
    first = client.get("/api/v1/recordings?limit=2&page=1", headers=h).json()
    second = client.get("/api/v1/recordings?limit=2&page=2", headers=h).json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {i["id"] for i in first["items"] + second["items"]} == {m["id"] for m in made.values()}

    by_name = client.get("/api/v1/recordings?sort_by=original_filename&order=asc", headers=h)
    assert [i["original_filename"] for i in by_name.json()["items"]] == [
        "a-steady.mp3",
        "b-legato.wav",
        "c-swell.m4a",
    ]
    by_length = client.get("/api/v1/recordings?sort_by=duration&order=desc", headers=h).json()
    durations = [i["duration_seconds"] for i in by_length["items"]]
    assert durations == sorted(durations, reverse=True)
    assert by_length["items"][0]["original_filename"] == "c-swell.m4a"  # 24 notes, the longest

    today = datetime.now(UTC).date()
    week_ago = (today - timedelta(days=7)).isoformat()
    recent = client.get(f"/api/v1/recordings?date_from={week_ago}", headers=h)
    assert set(_ids(recent)) == {made["c-swell.m4a"]["id"], made["a-steady.mp3"]["id"]}
    old = client.get(f"/api/v1/recordings?date_to={week_ago}", headers=h)
    assert _ids(old) == [made["b-legato.wav"]["id"]]
    day = (today - timedelta(days=5)).isoformat()
    one_day = client.get(f"/api/v1/recordings?date_from={day}&date_to={day}", headers=h)
    assert _ids(one_day) == [made["a-steady.mp3"]["id"]]

    assert len(_ids(client.get("/api/v1/recordings?status=uploaded", headers=h))) == 3
    assert _ids(client.get("/api/v1/recordings?status=completed", headers=h)) == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "page=0",
        "page=x",
        "status=done",
        "sort_by=size",
        "order=up",
        "date_from=yesterday",
        "date_from=2026-02-30",
        "date_from=2026-03-02&date_to=2026-03-01",
        "user_id=not-a-uuid",
        "sort=created_at",  # a misspelt parameter is not silently ignored
    ],
)
def test_a_bad_list_parameter_is_422(client: httpx.Client, accounts: Accounts, query: str) -> None:
    student = accounts.create("student")
    r = client.get(f"/api/v1/recordings?{query}", headers=student.headers)
    assert_error(r, 422, "validation_error")


def test_who_sees_and_changes_a_recording(
    client: httpx.Client, accounts: Accounts, takes: Takes
) -> None:
    student, other = accounts.create("student"), accounts.create("student")
    teacher, stranger = accounts.create("teacher"), accounts.create("teacher")
    admin = accounts.create("admin")
    accounts.link(teacher, student)
    rid = upload(client, student, takes["steady", "wav"]).json()["id"]
    upload(client, other, takes["steady", "mp3"])

    def get(who: Account) -> int:
        return client.get(f"/api/v1/recordings/{rid}", headers=who.headers).status_code

    assert [get(w) for w in (student, teacher, admin)] == [200, 200, 200]
    for outsider in (other, stranger):
        assert_error(
            client.get(f"/api/v1/recordings/{rid}", headers=outsider.headers),
            404,
            "recording_not_found",
        )
        assert_error(
            client.get(f"/api/v1/recordings/{rid}/analysis", headers=outsider.headers),
            404,
            "recording_not_found",
        )
        assert_error(
            client.delete(f"/api/v1/recordings/{rid}", headers=outsider.headers),
            404,
            "recording_not_found",
        )
    # The linked teacher reads but doesn't change.
    assert_error(
        client.delete(f"/api/v1/recordings/{rid}", headers=teacher.headers), 403, "forbidden"
    )
    assert_error(
        client.post(f"/api/v1/recordings/{rid}/analyze", headers=teacher.headers),
        403,
        "forbidden",
    )
    # Lists: each sees what the rule allows; naming someone else's user id lists nothing.
    assert _ids(client.get("/api/v1/recordings", headers=teacher.headers)) == [rid]
    assert _ids(client.get("/api/v1/recordings", headers=stranger.headers)) == []
    assert len(_ids(client.get("/api/v1/recordings", headers=admin.headers))) == 2
    assert _ids(
        client.get(f"/api/v1/recordings?user_id={student.id}", headers=teacher.headers)
    ) == [rid]
    assert _ids(client.get(f"/api/v1/recordings?user_id={student.id}", headers=other.headers)) == []
    assert_error(
        client.get("/api/v1/recordings/not-a-uuid", headers=student.headers),
        422,
        "validation_error",
    )
    assert_error(client.get(f"/api/v1/recordings/{rid}"), 401, "not_authenticated")


def test_detail_has_a_short_lived_download_link(
    client: httpx.Client, accounts: Accounts, takes: Takes, settings: Settings
) -> None:
    student = accounts.create("student")
    data = takes["steady", "m4a"]
    rid = upload(client, student, data, "Lesson 3.m4a").json()["id"]
    detail = client.get(f"/api/v1/recordings/{rid}", headers=student.headers).json()
    assert detail["status"] == "uploaded" and detail["analysis_url"] is None
    assert detail["content_type"] == "audio/mp4" and detail["codec"] == "aac"
    expires = datetime.fromisoformat(detail["download_expires_at"])
    assert (
        timedelta(0)
        < expires - datetime.now(UTC)
        <= timedelta(seconds=settings.recording.url_ttl_seconds)
    )
    fetched = httpx.get(detail["download_url"], timeout=30)
    assert fetched.status_code == 200 and fetched.content == data
    assert 'filename="Lesson-3.m4a"' in fetched.headers["content-disposition"]


def test_delete_removes_row_object_and_analysis(
    client: httpx.Client, accounts: Accounts, takes: Takes, leftovers: Leftovers
) -> None:
    student = accounts.create("student")
    rid = upload(client, student, takes["steady", "wav"]).json()["id"]
    r = client.delete(f"/api/v1/recordings/{rid}", headers=student.headers)
    assert r.status_code == 204, r.text
    leftovers.assert_none(student)
    assert_error(
        client.get(f"/api/v1/recordings/{rid}", headers=student.headers),
        404,
        "recording_not_found",
    )
    # Deleting again is a 404, not an error.
    assert client.delete(f"/api/v1/recordings/{rid}", headers=student.headers).status_code == 404


@pytest.fixture
def storage_down_api(settings: Settings, clean_db: str) -> Iterator[str]:
    """The same database and keys, but object storage on a port where nothing listens."""
    down = settings.model_copy(
        update={
            "s3_endpoint_url": "http://127.0.0.1:9",
            "s3_max_attempts": 1,
            "s3_timeout_seconds": 1,
        }
    )
    with LiveServer(create_app(down)) as server:
        yield server.url


def test_delete_when_storage_fails_keeps_the_row_and_answers_503(
    client: httpx.Client,
    accounts: Accounts,
    takes: Takes,
    storage_down_api: str,
    leftovers: Leftovers,
) -> None:
    student = accounts.create("student")
    rid = upload(client, student, takes["steady", "wav"]).json()["id"]
    r = httpx.delete(
        f"{storage_down_api}/api/v1/recordings/{rid}", headers=student.headers, timeout=30
    )
    assert_error(r, 503, "storage_unavailable")
    rows, keys, _ = leftovers.of(student)
    assert (rows, len(keys)) == (1, 1)
    assert client.get(f"/api/v1/recordings/{rid}", headers=student.headers).status_code == 200
    # And an upload while storage is down stores nothing either.
    r = httpx.post(
        f"{storage_down_api}/api/v1/upload",
        files=[("audio", ("a.wav", takes["steady", "wav"], "audio/wav"))],
        headers=student.headers,
        timeout=30,
    )
    assert_error(r, 503, "storage_unavailable")
    assert leftovers.of(student)[0] == 1


# ---- analysis, end to end with a real worker ------------------------------------------------


@pytest.fixture
def analysing(
    start_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:
    start_worker("analysis")


def test_uploads_are_analysed_and_teachers_read_the_result(
    analysing: None, client: httpx.Client, accounts: Accounts, takes: Takes
) -> None:
    student = accounts.create("student")
    teacher, stranger = accounts.create("teacher"), accounts.create("teacher")
    accounts.link(teacher, student)
    ids = {}
    for take, fmt in [("jittered", "wav"), ("staccato", "mp3"), ("swell", "m4a")]:
        r = upload(client, student, takes[take, fmt], f"{take}.{fmt}")
        assert r.status_code == 201, r.text
        ids[take] = r.json()["id"]
    results: dict[str, dict[str, Any]] = {}
    for take, rid in ids.items():
        done = wait_finished(client, student, rid)
        assert done["status"] == "completed", done
        assert done["seen"][-1] == "completed" and set(done["seen"]) <= {
            "uploaded",
            "analyzing",
            "completed",
        }
        assert done["analysis_url"] == f"/api/v1/recordings/{rid}/analysis"
        r = client.get(done["analysis_url"], headers=student.headers)
        assert r.status_code == 200, r.text
        results[take] = r.json()

    swell = results["swell"]
    assert swell["analyzer"]["name"] == "local" and swell["analyzer"]["version"].startswith("1.0")
    assert swell["segment_seconds"] == 3.0
    assert [s["label"] for s in swell["segments"]][:4] == [
        "0:00-0:03",
        "0:03-0:06",
        "0:06-0:09",
        "0:09-0:12",
    ]
    assert swell["measurements"]["dynamic_contour"] == "crescendo"
    assert swell["segments"][1]["measurements"]["dynamic_contour"] == "crescendo"
    assert results["jittered"]["scores"]["timing_stable_unstable"] > 0.2
    assert results["staccato"]["scores"]["articulation_short_long"] < 0.5
    assert swell["scores"]["emotion_mood_optimistic_dark"] is None
    assert swell["reasons"]["emotion_mood_optimistic_dark"]
    definition = swell["definitions"]["timing_stable_unstable"]
    assert definition["unit"] == "score" and definition["range"] == [0.0, 1.0]
    assert definition["low"] == "stable" and definition["computation"]

    # The linked teacher reads the same analysis; an unlinked one gets 404.
    rid = ids["swell"]
    as_teacher = client.get(f"/api/v1/recordings/{rid}/analysis", headers=teacher.headers)
    assert as_teacher.status_code == 200 and as_teacher.json() == swell
    assert_error(
        client.get(f"/api/v1/recordings/{rid}/analysis", headers=stranger.headers),
        404,
        "recording_not_found",
    )
    done = client.get("/api/v1/recordings?status=completed", headers=student.headers).json()
    assert done["total"] == 3

    # Re-analysis: queued again (the old result is gone meanwhile), then completed again.
    r = client.post(f"/api/v1/recordings/{rid}/analyze", headers=student.headers)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "analyzing"
    again = client.post(f"/api/v1/recordings/{rid}/analyze", headers=student.headers)
    if again.status_code != 202:  # the first may already be done
        assert_error(again, 409, "analysis_in_progress")
    assert wait_finished(client, student, rid)["status"] == "completed"
    assert (
        client.get(f"/api/v1/recordings/{rid}/analysis", headers=student.headers).json()["scores"]
        == swell["scores"]
    )


def test_an_analysis_that_fails_says_why(
    analysing: None,
    client: httpx.Client,
    accounts: Accounts,
    takes: Takes,
    clean_db: str,
    settings: Settings,
) -> None:
    """The stored object no longer decodes (changed behind the API's back): failed, with the
    reason, and the analysis endpoint says so."""
    student = accounts.create("student")
    rid = upload(client, student, takes["steady", "wav"]).json()["id"]
    assert wait_finished(client, student, rid)["status"] == "completed"
    from service.storage import ObjectStore

    ObjectStore(settings).put_bytes(
        settings.storage.bucket_projects,
        f"recordings/{student.id}/{rid}.wav",
        b"RIFF\x00\x00\x00\x00WAVEjunk" * 10,
        "audio/wav",
    )
    assert (
        client.post(f"/api/v1/recordings/{rid}/analyze", headers=student.headers).status_code == 202
    )
    failed = wait_finished(client, student, rid)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "audio_undecodable" and failed["error"]["message"]
    error = assert_error(
        client.get(f"/api/v1/recordings/{rid}/analysis", headers=student.headers),
        409,
        "analysis_failed",
    )
    assert error["details"] == [{"status": "failed", "error_code": "audio_undecodable"}]


def test_analysis_before_it_is_ready_is_409_with_the_status(
    client: httpx.Client, accounts: Accounts, takes: Takes
) -> None:
    student = accounts.create("student")
    rid = upload(client, student, takes["steady", "wav"]).json()["id"]  # no worker running
    error = assert_error(
        client.get(f"/api/v1/recordings/{rid}/analysis", headers=student.headers),
        409,
        "analysis_not_ready",
    )
    assert error["details"] == [{"status": "uploaded"}]
    assert_error(
        client.post(f"/api/v1/recordings/{rid}/analyze", headers=student.headers),
        409,
        "analysis_in_progress",
    )


def test_the_api_process_does_not_load_the_analyser() -> None:
    """librosa and numpy load in the worker only: the API stays lean."""
    probe = (
        "import sys, service.app, service.api.router, service.recordings.intake;"
        "assert not {'librosa', 'numpy', 'numba'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)
