"""End to end through the edge Worker (workerd) in front of a real API, as `make up` runs them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.local_stack import LocalStack, login, running_stack

pytestmark = pytest.mark.slow

LESSON = """# Finger independence

Practise slow five-finger exercises with one finger holding a key down while the others play.
Lift each finger from the knuckle, keep the hand quiet, and listen for even tone in every finger.
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("edge-e2e"), api_timeout=60) as s:
        yield s


def _sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif line == "" and data:
            yield event, "\n".join(data)
            event, data = "message", []


def test_upload_stream_and_ask_through_the_edge(stack: LocalStack, scan_pdf: Path) -> None:
    edge = stack.edge
    teacher = login(edge, "teacher@example.com")

    # Upload a project: create through the edge, PUT to the presigned URL, confirm through the edge.
    created = httpx.post(
        f"{edge}/api/projects",
        json={
            "title": "Cooke scans",
            "filename": "cooke.pdf",
            "file_size": scan_pdf.stat().st_size,
        },
        headers=teacher,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    project_id = created.json()["project"]["id"]
    pdf = scan_pdf.read_bytes()
    put = httpx.put(
        created.json()["upload_url"],
        content=pdf,
        headers={"Content-Type": "application/pdf"},
        timeout=60,
    )
    assert put.status_code == 200, put.text
    confirm = httpx.post(f"{edge}/api/projects/{project_id}/confirm", headers=teacher, timeout=60)
    assert confirm.status_code == 200, confirm.text

    # Stream it back from R2 through the Worker: byte-identical, then a range and a 304.
    streamed = httpx.get(f"{edge}/api/projects/{project_id}/stream", headers=teacher, timeout=60)
    assert streamed.status_code == 200, streamed.text
    assert streamed.content == pdf
    assert streamed.headers["cache-control"].startswith("private")
    etag = streamed.headers["etag"]
    part = httpx.get(
        f"{edge}/api/projects/{project_id}/stream",
        headers=teacher | {"Range": "bytes=0-1023"},
        timeout=30,
    )
    assert part.status_code == 206 and part.content == pdf[:1024]
    again = httpx.get(
        f"{edge}/api/projects/{project_id}/stream",
        headers=teacher | {"If-None-Match": etag},
        timeout=30,
    )
    assert again.status_code == 304
    stranger = httpx.get(f"{edge}/api/projects/{project_id}/stream", timeout=30)
    assert stranger.status_code == 401

    # Teach the knowledge base something small, let the job worker process it.
    doc = httpx.post(
        f"{edge}/api/knowledge",
        json={
            "title": "Finger independence",
            "source_type": "text",
            "is_public": True,
            "filename": "lesson.md",
            "file_size": len(LESSON.encode()),
        },
        headers=teacher,
        timeout=30,
    )
    assert doc.status_code == 201, doc.text
    upload = doc.json()["upload"]
    assert (
        httpx.put(
            upload["upload_url"], content=LESSON.encode(), headers=upload["upload_headers"]
        ).status_code
        == 200
    )
    doc_id = doc.json()["document"]["id"]
    assert (
        httpx.post(
            f"{edge}/api/knowledge/{doc_id}/process", headers=teacher, timeout=30
        ).status_code
        == 202
    )
    deadline = time.monotonic() + 240
    state = ""
    while time.monotonic() < deadline:
        state = httpx.get(
            f"{edge}/api/knowledge/{doc_id}/status", headers=teacher, timeout=30
        ).json()["status"]
        if state in ("completed", "failed"):
            break
        time.sleep(1)
    assert state == "completed", Path(stack.log).read_text()[-4000:]

    # Ask through the edge and receive the answer as SSE, in order, citing the lesson.
    student = login(edge, "student@example.com")
    with httpx.stream(
        "POST",
        f"{edge}/api/chat/query",
        json={"query": "How should I practise to develop finger independence?", "stream": True},
        headers=student | {"Accept": "text/event-stream"},
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(_sse_events(response))
    names = [e for e, _ in events]
    assert names[0] == "sources" and names[-1] == "done", names
    sources = json.loads(events[0][1])
    sources = sources.get("sources", sources) if isinstance(sources, dict) else sources
    assert any(s["document_id"] == doc_id for s in sources)
    assert "delta" in names
