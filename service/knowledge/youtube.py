"""YouTube captions for `youtube` documents created with only a URL, via youtube-transcript-api.

The library speaks YouTube's own web protocol (the watch page, the innertube player API and the
timed-text XML). It is synchronous (requests), so a fetch runs in a worker thread with its own
client, and every request carries a timeout: requests has none by default and a stuck socket
would otherwise hold an ingestion job forever. Each failure becomes an `ExtractionError` whose
code and message are stored on the document, so the teacher sees what to do (usually: upload
the .vtt/.srt instead).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter
from youtube_transcript_api import (
    AgeRestricted,
    CouldNotRetrieveTranscript,
    FetchedTranscript,
    InvalidVideoId,
    NoTranscriptFound,
    RequestBlocked,
    TranscriptsDisabled,
    VideoUnavailable,
    VideoUnplayable,
    YouTubeRequestFailed,
    YouTubeTranscriptApi,
)
from youtube_transcript_api.proxies import GenericProxyConfig

from service.knowledge.extracted import Block, Extracted, ExtractionError

YOUTUBE = "https://www.youtube.com"
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com")
_PATH_PREFIXES = ("/shorts/", "/embed/", "/live/", "/v/")
UPLOAD_INSTEAD = "Upload the transcript as a .vtt or .srt file instead."


def video_id(url: str) -> str | None:
    """The 11-character id in a YouTube video URL (watch, youtu.be, shorts, embed, live)."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    candidate: str | None = None
    if host == "youtu.be":
        candidate = parts.path.strip("/").split("/")[0]
    elif host in _HOSTS:
        if parts.path == "/watch":
            candidate = (parse_qs(parts.query).get("v") or [""])[0]
        else:
            candidate = next(
                (
                    parts.path[len(p) :].split("/")[0]
                    for p in _PATH_PREFIXES
                    if parts.path.startswith(p)
                ),
                None,
            )
    return candidate if candidate and _VIDEO_ID.match(candidate) else None


class _TimeoutSession(requests.Session):
    """A requests session that sends every request to `base_url` with a timeout."""

    def __init__(self, timeout: float, base_url: str) -> None:
        super().__init__()
        self.timeout = timeout
        self.base_url = base_url.rstrip("/")
        if self.base_url != YOUTUBE:
            # The library's URLs are fixed to youtube.com; a non-default base (a local stand-in
            # in tests) receives the same paths.
            self.mount(YOUTUBE, _Rebase(self.base_url))

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class _Rebase(HTTPAdapter):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        request.url = self.base_url + (request.url or "").removeprefix(YOUTUBE)
        return super().send(request, *args, **kwargs)


def _blocks(transcript: FetchedTranscript) -> Extracted:
    blocks = [
        Block(
            " ".join(s.text.split()),
            start_seconds=s.start,
            end_seconds=s.start + s.duration,
        )
        for s in transcript
        if s.text.strip()
    ]
    if not blocks:
        raise ExtractionError("transcript_empty", "The video's transcript has no text.")
    return Extracted(blocks=blocks)


def _error(exc: Exception, languages: tuple[str, ...]) -> ExtractionError:
    """One clear, machine-readable failure per way YouTube can refuse."""
    wanted = ", ".join(languages)
    if isinstance(exc, TranscriptsDisabled):
        return ExtractionError(
            "transcript_disabled", f"Captions are turned off for this video. {UPLOAD_INSTEAD}"
        )
    if isinstance(exc, NoTranscriptFound):
        return ExtractionError(
            "transcript_not_found",
            f"The video has no transcript in the accepted languages ({wanted}). {UPLOAD_INSTEAD}",
        )
    if isinstance(exc, VideoUnavailable | InvalidVideoId):
        return ExtractionError(
            "video_unavailable", "The video does not exist or has been removed from YouTube."
        )
    if isinstance(exc, AgeRestricted):
        return ExtractionError(
            "video_age_restricted",
            f"The video is age-restricted, so its captions need a signed-in viewer. {UPLOAD_INSTEAD}",
        )
    if isinstance(exc, VideoUnplayable):
        reason = exc.reason or "no reason given"
        return ExtractionError(
            "video_unplayable",
            f"YouTube will not play this video ({reason}); private and members-only videos "
            f"can't be read. {UPLOAD_INSTEAD}",
        )
    if isinstance(exc, RequestBlocked):  # IpBlocked too
        return ExtractionError(
            "transcript_fetch_blocked",
            "YouTube refused requests from this server (it blocks many cloud addresses); "
            f"configure TRANSCRIPT_PROXY_URL, or: {UPLOAD_INSTEAD}",
        )
    if isinstance(exc, YouTubeRequestFailed):
        return ExtractionError(
            "transcript_fetch_failed", f"YouTube answered with an error: {exc.reason}"
        )
    if isinstance(exc, requests.Timeout):
        return ExtractionError("transcript_fetch_timeout", "YouTube did not answer in time.")
    if isinstance(exc, requests.RequestException):
        return ExtractionError(
            "transcript_fetch_failed", f"YouTube could not be reached: {type(exc).__name__}"
        )
    return ExtractionError(
        "transcript_fetch_failed", f"The transcript could not be read: {type(exc).__name__}"
    )


class YouTubeTranscriptProvider:
    """Fetches the captions of a public video, preferring manual ones, in the given languages."""

    def __init__(
        self,
        *,
        languages: tuple[str, ...] = ("en",),
        timeout_seconds: float = 20.0,
        base_url: str = YOUTUBE,
        proxy_url: str = "",
    ) -> None:
        self.languages = languages
        self.timeout_seconds = timeout_seconds
        self.base_url = base_url
        self.proxy_url = proxy_url

    def _fetch(self, vid: str) -> FetchedTranscript:
        # A client per call: the library's client is not thread-safe.
        proxy = (
            GenericProxyConfig(http_url=self.proxy_url, https_url=self.proxy_url)
            if self.proxy_url
            else None
        )
        api = YouTubeTranscriptApi(
            proxy_config=proxy,
            http_client=_TimeoutSession(self.timeout_seconds, self.base_url),
        )
        return api.fetch(vid, languages=self.languages)

    async def fetch(self, video_url: str) -> Extracted:
        vid = video_id(video_url)
        if vid is None:
            raise ExtractionError(
                "youtube_url_invalid", f"Not a YouTube video URL: {video_url[:200]}"
            )
        try:
            transcript = await asyncio.to_thread(self._fetch, vid)
        except (CouldNotRetrieveTranscript, requests.RequestException) as exc:
            raise _error(exc, self.languages) from exc
        return _blocks(transcript)
