"""Recordings end to end through the edge Worker (workerd) in front of the real API, worker and
S3 server, as `make up` runs them: the walk-through docs/recordings.md shows with curl."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools import audio_synth
from tests.local_stack import LocalStack, login, running_stack
from tests.workers import wait_finished

pytestmark = pytest.mark.slow

LIMIT = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The tests poll analyses through the edge from one address: the Worker's per-IP limit
    # (100 a minute locally) would answer 429 long before the analyses finish.
    with running_stack(
        tmp_path_factory.mktemp("recordings-e2e"),
        SEED_DEMO_DATA="false",
        EDGE_RATE_LIMIT_PER_MINUTE="5000",
    ) as s:
        yield s


def _upload(edge: str, who: dict[str, str], name: str, data: bytes) -> httpx.Response:
    metadata = {
        "originalName": name,
        "size": len(data),
        "type": "audio/whatever",
        "hash": hashlib.sha256(data).hexdigest(),
    }
    return httpx.post(
        f"{edge}/api/v1/upload",
        files=[
            ("audio", (name, data, "application/octet-stream")),
            ("metadata", (None, json.dumps(metadata), "application/json")),
        ],
        headers=who,
        timeout=120,
    )


def _finished(edge: str, who: dict[str, str], rid: str, timeout: float = 240) -> dict[str, Any]:
    return wait_finished(
        lambda: httpx.get(f"{edge}/api/v1/recordings/{rid}", headers=who, timeout=30).json(),
        timeout,
        f"analysis of {rid}",
    )


def test_a_student_uploads_three_formats_through_the_edge(stack: LocalStack) -> None:
    edge = stack.edge
    student = login(edge, "student@example.com")
    # Longer than a second take: the WAV alone is over the edge's 1 MiB JSON cap.
    samples = audio_synth.render(audio_synth.scale(count=40))
    files = {fmt: audio_synth.encode(samples, fmt) for fmt in audio_synth.FORMATS}
    assert len(files["wav"]) > 1024 * 1024
    ids = {}
    for fmt, data in files.items():
        r = _upload(edge, student, f"scale.{fmt}", data)
        assert r.status_code == 201, r.text
        assert r.json()["format"] == fmt and r.json()["size_bytes"] == len(data)
        ids[fmt] = r.json()["id"]

    for rid in ids.values():
        done = _finished(edge, student, rid)
        assert done["status"] == "completed", done
        analysis = httpx.get(
            f"{edge}/api/v1/recordings/{rid}/analysis", headers=student, timeout=30
        )
        assert analysis.status_code == 200, analysis.text
        body = analysis.json()
        assert body["segments"][0]["label"] == "0:00-0:03" and len(body["segments"]) >= 7
        assert body["scores"]["timing_stable_unstable"] < 0.1  # an even scale
        assert body["measurements"]["tempo_bpm"] == pytest.approx(120, abs=3)

    listed = httpx.get(
        f"{edge}/api/v1/recordings?status=completed&sort_by=original_filename&order=asc",
        headers=student,
        timeout=30,
    ).json()
    assert [i["original_filename"] for i in listed["items"]] == [
        "scale.m4a",
        "scale.mp3",
        "scale.wav",
    ]

    # The linked demo teacher reads the analysis; a teacher of someone else gets 404.
    rid = ids["mp3"]
    teacher = login(edge, "teacher@example.com")
    assert (
        httpx.get(
            f"{edge}/api/v1/recordings/{rid}/analysis", headers=teacher, timeout=30
        ).status_code
        == 200
    )
    httpx.post(
        f"{edge}/api/auth/register",
        json={
            "email": "other-teacher@example.com",
            "password": "a-long-password",
            "display_name": "O",
            "role": "teacher",
        },
        timeout=30,
    )
    stranger = login(edge, "other-teacher@example.com", "a-long-password")
    r = httpx.get(f"{edge}/api/v1/recordings/{rid}/analysis", headers=stranger, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["code"] == "recording_not_found"

    # Context through the edge.
    put = httpx.put(
        f"{edge}/api/v1/context",
        json={
            "goals": "Even scales",
            "repertoire": ["Hanon No. 1"],
            "experience_level": "beginner",
        },
        headers=student,
        timeout=30,
    )
    assert put.status_code == 200, put.text
    assert (
        httpx.get(f"{edge}/api/v1/context", headers=student, timeout=30).json()["goals"]
        == "Even scales"
    )


def test_50_mb_plus_one_byte_is_413_through_the_edge(stack: LocalStack) -> None:
    edge = stack.edge
    who = login(edge, "admin@example.com")
    before = httpx.get(f"{edge}/api/v1/recordings?user_id=", headers=who, timeout=30)
    assert before.status_code == 422  # an empty user_id is a bad parameter, not "everyone"
    data = b"RIFF" + (LIMIT - 8 + 1).to_bytes(4, "little") + b"WAVE" + bytes(LIMIT + 1 - 12)
    r = _upload(edge, who, "big.wav", data)
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "file_too_large"
    mine = httpx.get(f"{edge}/api/v1/recordings", headers=who, timeout=30).json()
    assert all(item["original_filename"] != "big.wav" for item in mine["items"])


def test_feedback_on_a_take_through_the_edge(stack: LocalStack) -> None:
    """The report the practice app shows after a take, as `make up` serves it (no LLM, no
    books seeded here: the template and no citations)."""
    edge = stack.edge
    student = login(edge, "student@example.com")
    data = audio_synth.encode(audio_synth.render(audio_synth.scenario("jittered")), "wav")
    rid = _upload(edge, student, "jittered.wav", data).json()["id"]
    early = httpx.post(f"{edge}/api/v1/feedback/{rid}", headers=student, timeout=30)
    if early.status_code == 409:  # the worker may already be done: then there's no 409 to see
        assert early.json()["error"]["code"] == "analysis_not_ready"
    assert _finished(edge, student, rid)["status"] == "completed"
    r = httpx.post(f"{edge}/api/v1/feedback/{rid}", headers=student, timeout=60)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["focus_areas"][0]["dimension"] == "timing_stable_unstable"
    assert "No language model wrote this" in report["notice"]
    assert sum(i["minutes"] for i in report["practice_plan"]["items"]) == 20
    again = httpx.post(f"{edge}/api/v1/feedback/{rid}", headers=student, timeout=30).json()
    assert again["cached"] is True and again["generated_at"] == report["generated_at"]
    teacher = login(edge, "teacher@example.com")
    as_teacher = httpx.post(f"{edge}/api/v1/feedback/{rid}", headers=teacher, timeout=30)
    assert as_teacher.status_code == 200 and as_teacher.json()["cached"] is True
    bad = httpx.post(f"{edge}/api/v1/feedback/{rid}?refresh=maybe", headers=student, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"


def test_the_tutor_streams_an_answer_about_the_last_take_through_the_edge(
    stack: LocalStack,
) -> None:
    """POST /api/v1/chat through workerd: the stream arrives as SSE, the tutor (offline, as
    `make up` runs) looked at the newest analysed take, and the session keeps the tool calls."""
    edge = stack.edge
    student = login(edge, "student@example.com")
    data = audio_synth.encode(audio_synth.render(audio_synth.scenario("jittered")), "wav")
    r = _upload(edge, student, "jittered-take.wav", data)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert _finished(edge, student, rid)["status"] == "completed"

    question = "How did my last recording go, and what should I practise this week?"
    with httpx.stream(
        "POST", f"{edge}/api/v1/chat", json={"message": question}, headers=student, timeout=120
    ) as s:
        assert s.status_code == 200
        assert s.headers["content-type"].startswith("text/event-stream")
        body = s.read().decode()
    frames = [
        line[len("data: ") :]
        for line in body.replace("\r\n", "\n").split("\n")
        if line.startswith("data: ")
    ]
    assert frames[-1] == "[DONE]"
    events = [json.loads(f) for f in frames[:-1]]
    calls = [e for e in events if e["type"] == "tool_call"]
    analysed = [c["arguments"] for c in calls if c["name"] == "get_performance_analysis"]
    assert analysed == [{"recording_id": rid}]
    assert {c["name"] for c in calls} >= {"get_performance_analysis", "search_knowledge_base"}
    text = "".join(e["text"] for e in events if e["type"] == "delta")
    assert "no language model wrote it" in text and "jittered-take.wav" in text
    done = events[-1]
    assert done["type"] == "done" and done["provider"] == "offline"
    session = httpx.get(
        f"{edge}/api/v1/chat/sessions/{done['session_id']}", headers=student, timeout=30
    ).json()
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"]
    assert session["messages"][1]["tool_calls"][0]["name"] == "get_user_context"
    # The edge stops an anonymous caller; the origin answers bad input with its error contract.
    assert httpx.post(f"{edge}/api/v1/chat", json={"message": "hi"}, timeout=30).status_code == 401
    bad = httpx.post(f"{edge}/api/v1/chat", json={"message": ""}, headers=student, timeout=30)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
