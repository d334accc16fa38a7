"""YouTube captions through youtube-transcript-api against a local server speaking its protocol."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from service.core.config import Settings
from service.embeddings.factory import build_embedder
from service.knowledge.extracted import Extracted, ExtractionError
from service.knowledge.pipeline import process_document
from service.knowledge.sources import SourceReader
from service.knowledge.transcripts import UnavailableTranscriptProvider, transcript_provider
from service.knowledge.youtube import YouTubeTranscriptProvider, video_id
from service.repositories import knowledge as repo
from tests.factories import Accounts
from tests.ingest.documents import platform_document
from tests.ingest.fake_workers_ai import FakeWorkersAI
from tests.ingest.fake_youtube import FakeYouTube


@pytest.fixture(scope="module")
def youtube() -> Iterator[FakeYouTube]:
    fake = FakeYouTube()
    yield fake
    fake.close()


def _fetch(provider: YouTubeTranscriptProvider, url: str) -> Extracted:
    return asyncio.run(provider.fetch(url))


def _code(provider: YouTubeTranscriptProvider, url: str) -> tuple[str, str]:
    with pytest.raises(ExtractionError) as caught:
        _fetch(provider, url)
    return caught.value.code, caught.value.message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.youtube.com/watch?v=okVideo0001", "okVideo0001"),
        ("https://youtube.com/watch?feature=share&v=okVideo0001&t=30", "okVideo0001"),
        ("https://m.youtube.com/watch?v=okVideo0001", "okVideo0001"),
        ("https://youtu.be/okVideo0001?t=12", "okVideo0001"),
        ("https://www.youtube.com/shorts/okVideo0001", "okVideo0001"),
        ("https://www.youtube.com/embed/okVideo0001", "okVideo0001"),
        ("https://www.youtube.com/live/okVideo0001?si=x", "okVideo0001"),
        ("https://www.youtube.com/watch?v=short", None),
        ("https://www.youtube.com/channel/UCokVideo0001", None),
        ("https://vimeo.com/okVideo0001", None),
        ("https://evil.example/watch?v=okVideo0001", None),
    ],
)
def test_video_id(url: str, expected: str | None) -> None:
    assert video_id(url) == expected


def test_fetches_captions_with_their_timestamps(youtube: FakeYouTube) -> None:
    provider = YouTubeTranscriptProvider(base_url=youtube.url)
    got = _fetch(provider, "https://youtu.be/okVideo0001")
    assert [(b.start_seconds, b.end_seconds) for b in got.blocks] == [
        (1.5, 3.5),
        (4.0, 7.5),
        (3720.0, 3726.5),
    ]
    assert got.blocks[1].text == "Keep the wrist loose & let the thumb pass under."
    # The real protocol was spoken: watch page, player API, then the caption track.
    assert youtube.requests[-3:] == ["GET /watch", "POST /youtubei/v1/player", "GET /api/timedtext"]


def test_language_preference_and_generated_captions(youtube: FakeYouTube) -> None:
    english = YouTubeTranscriptProvider(base_url=youtube.url)
    assert len(_fetch(english, "https://youtu.be/asrOnly0001").blocks) == 3
    assert _code(english, "https://youtu.be/deCaption01")[0] == "transcript_not_found"
    german_ok = YouTubeTranscriptProvider(base_url=youtube.url, languages=("fr", "de"))
    assert len(_fetch(german_ok, "https://youtu.be/deCaption01").blocks) == 3


@pytest.mark.parametrize(
    ("video", "code", "says"),
    [
        ("noCaption01", "transcript_disabled", "upload"),
        ("privateVid1", "video_unplayable", "private"),
        ("ageRestrict", "video_age_restricted", "age-restricted"),
        ("goneVideo01", "video_unavailable", "removed"),
        ("unknownVid1", "video_unavailable", "does not exist"),
        ("botBlocked1", "transcript_fetch_blocked", "TRANSCRIPT_PROXY_URL"),
        ("rateLimit01", "transcript_fetch_blocked", "TRANSCRIPT_PROXY_URL"),
        ("emptyCaps01", "transcript_empty", "no text"),
    ],
)
def test_each_refusal_is_a_clear_failure(
    youtube: FakeYouTube, video: str, code: str, says: str
) -> None:
    provider = YouTubeTranscriptProvider(base_url=youtube.url)
    got_code, message = _code(provider, f"https://www.youtube.com/watch?v={video}")
    assert got_code == code
    assert says.lower() in message.lower()


def test_a_stalled_server_times_out_instead_of_hanging(youtube: FakeYouTube) -> None:
    provider = YouTubeTranscriptProvider(base_url=youtube.url, timeout_seconds=0.5)
    started = time.monotonic()
    assert _code(provider, "https://youtu.be/slowVideo01")[0] == "transcript_fetch_timeout"
    assert time.monotonic() - started < 2.5


def test_unreachable_youtube_and_bad_urls() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    provider = YouTubeTranscriptProvider(base_url=closed, timeout_seconds=2)
    assert _code(provider, "https://youtu.be/okVideo0001")[0] == "transcript_fetch_failed"
    assert _code(provider, "https://vimeo.com/123")[0] == "youtube_url_invalid"


def test_settings_choose_the_provider(settings: Settings) -> None:
    off = transcript_provider(settings.model_copy(update={"transcript_provider": "none"}))
    assert isinstance(off, UnavailableTranscriptProvider)
    on = transcript_provider(
        settings.model_copy(
            update={"transcript_languages": "de, en", "transcript_timeout_seconds": 3}
        )
    )
    assert isinstance(on, YouTubeTranscriptProvider)
    assert on.languages == ("de", "en") and on.timeout_seconds == 3


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://www.youtube.com/watch?v=okVideo0001", 201),
        ("https://www.youtube.com/channel/UCx", 422),
        ("https://vimeo.com/12345", 422),
    ],
)
def test_a_url_only_youtube_document_needs_a_video_url(
    client: httpx.Client, accounts: Accounts, url: str, status: int
) -> None:
    teacher = accounts.create("teacher")
    body = {"title": "Lesson", "source_type": "youtube", "url": url}
    r = client.post("/api/knowledge", json=body, headers=teacher.headers)
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["error"]["code"] == "validation_error"
        assert "YouTube video URL" in r.text


def test_pipeline_fetches_captions_for_a_url_only_document(
    clean_db: str, settings: Settings, fake_ai: FakeWorkersAI, youtube: FakeYouTube
) -> None:
    local = settings.model_copy(
        update={**fake_ai.settings_overrides(), "transcript_youtube_base_url": youtube.url}
    )
    embedder = build_embedder(local)

    async def run(video: str) -> tuple[Any, list[dict[str, Any]]]:
        async with await psycopg.AsyncConnection.connect(
            clean_db, autocommit=True, row_factory=dict_row
        ) as conn:
            doc_id = await platform_document(
                conn, "youtube", video, source_url=f"https://www.youtube.com/watch?v={video}"
            )
            # The reader builds its provider from the settings, as the worker's does.
            await process_document(
                conn, local, doc_id, embedder=embedder, reader=SourceReader(local, None)
            )
            cur = await conn.execute(
                "SELECT start_seconds, end_seconds FROM document_chunks WHERE document_id = %s "
                "ORDER BY chunk_index",
                (doc_id,),
            )
            return await repo.get(conn, doc_id), await cur.fetchall()

    doc, rows = asyncio.run(run("okVideo0001"))
    assert doc.status == "completed"
    assert rows[0]["start_seconds"] == pytest.approx(1.5)
    assert rows[-1]["end_seconds"] == pytest.approx(3726.5)

    doc, rows = asyncio.run(run("privateVid1"))
    assert doc.status == "failed" and rows == []
    assert doc.error_code == "video_unplayable"
    assert "private" in (doc.error_message or "")
