"""Video transcripts: WebVTT/SRT cues keep their timestamps so citations can link to `?t=`."""

from __future__ import annotations

import io
from typing import Any, Protocol

import srt
import webvtt
from webvtt.errors import MalformedFileError

from service.core.config import Settings
from service.knowledge.extracted import Block, Extracted, ExtractionError
from service.knowledge.text import decode


class TranscriptProvider(Protocol):
    """Fetches the timed transcript of a video that has only a URL (no uploaded file)."""

    async def fetch(self, video_url: str) -> Extracted: ...


class UnavailableTranscriptProvider:
    """TRANSCRIPT_PROVIDER=none: transcripts must be uploaded."""

    async def fetch(self, video_url: str) -> Extracted:
        raise ExtractionError(
            "transcript_unavailable",
            "No transcript was uploaded for this video and fetching transcripts is turned off.",
        )


def transcript_provider(settings: Settings) -> TranscriptProvider:
    if settings.transcript.provider == "none":
        return UnavailableTranscriptProvider()
    from service.knowledge.youtube import YouTubeTranscriptProvider

    t = settings.transcript
    return YouTubeTranscriptProvider(
        languages=tuple(code.strip() for code in t.languages.split(",") if code.strip()),
        timeout_seconds=t.timeout_seconds,
        base_url=t.youtube_base_url,
        proxy_url=t.proxy_url.get_secret_value(),
    )


def _seconds(ts: Any) -> float:
    """webvtt-py's `start_in_seconds` drops milliseconds; deep links deserve them."""
    return ts.hours * 3600 + ts.minutes * 60 + ts.seconds + ts.milliseconds / 1000


def _looks_like_vtt(text: str) -> bool:
    return text.lstrip("\ufeff \n").startswith("WEBVTT")


def parse_transcript(data: bytes | str) -> Extracted:
    text = decode(data) if isinstance(data, bytes) else data
    blocks: list[Block] = []
    try:
        if _looks_like_vtt(text):
            for cue in webvtt.from_buffer(io.StringIO(text)):
                content = " ".join(cue.text.split())
                if content:
                    blocks.append(
                        Block(
                            content,
                            start_seconds=_seconds(cue.start_time),
                            end_seconds=_seconds(cue.end_time),
                        )
                    )
        else:
            for sub in srt.parse(text):
                content = " ".join(sub.content.split())
                if content:
                    blocks.append(
                        Block(
                            content,
                            start_seconds=sub.start.total_seconds(),
                            end_seconds=sub.end.total_seconds(),
                        )
                    )
    except (MalformedFileError, srt.SRTParseError, ValueError) as exc:
        raise ExtractionError(
            "transcript_invalid", f"The transcript is not valid WebVTT or SRT: {exc}"
        ) from exc
    if not blocks:
        raise ExtractionError("transcript_empty", "The transcript has no cues with text.")
    return Extracted(blocks=blocks)
