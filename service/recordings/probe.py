"""What a real decoder says about an uploaded file: codec, duration, sample rate, channels.

FFmpeg (PyAV) opens the file with the demuxer its magic bytes chose, reads every packet of the
audio stream (cheap: no decoding) for the exact duration, and decodes the opening seconds to
prove the codec data is real. A file that claims more audio than it holds is truncated. The full
decode happens once, in the analysis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from service.core.exceptions import Invalid, UnsupportedMediaType
from service.recordings.formats import WAV, AudioFormat, riff_declared_size

log = logging.getLogger(__name__)

DECODE_CHECK_SECONDS = 2.0


@dataclass(frozen=True)
class AudioFacts:
    codec: str
    duration_seconds: float
    sample_rate: int
    channels: int


def undecodable(fmt: AudioFormat, detail: str) -> Invalid:
    return Invalid(
        "audio_undecodable",
        f"The file starts like {fmt.name.upper()} but doesn't decode as audio "
        f"(damaged or truncated): {detail}",
    )


def _truncated(fmt: AudioFormat, declared: float, found: float) -> Invalid:
    return Invalid(
        "audio_truncated",
        f"The {fmt.name.upper()} file announces {declared:.1f} s of audio but holds only "
        f"{found:.1f} s: it is truncated.",
    )


def probe(
    path: Path, fmt: AudioFormat, *, head: bytes, min_seconds: float, max_seconds: float
) -> AudioFacts:
    """Raises Invalid (422) or UnsupportedMediaType (415) with the reason the file is refused."""
    size = path.stat().st_size
    if fmt is WAV:
        announced = riff_declared_size(head)
        if announced is not None and announced > size + 1:  # +1: a RIFF pad byte
            raise Invalid(
                "audio_truncated",
                f"The WAV header announces {announced} bytes but the file has {size}: "
                "it is truncated.",
            )
    try:
        with av.open(str(path), format=fmt.demuxer) as container:
            return _read(container, fmt, min_seconds=min_seconds, max_seconds=max_seconds)
    except av.FFmpegError as exc:
        log.info("audio refused by the decoder", extra={"format": fmt.name, "error": str(exc)})
        raise undecodable(fmt, "the decoder can't read it") from exc


def _read(
    container: av.container.InputContainer,
    fmt: AudioFormat,
    *,
    min_seconds: float,
    max_seconds: float,
) -> AudioFacts:
    if any(
        not (s.disposition & av.stream.Disposition.attached_pic) for s in container.streams.video
    ):  # cover art is a still "video" stream; real video is not a practice recording
        raise UnsupportedMediaType("not_audio_only", "The file holds video; upload audio only.")
    if not container.streams.audio:
        raise undecodable(fmt, "it has no audio stream")
    stream = container.streams.audio[0]
    codec = stream.codec_context.name
    if not fmt.accepts_codec(codec):
        raise UnsupportedMediaType(
            "unsupported_audio_codec",
            f"{fmt.name.upper()} with {codec} audio isn't supported.",
        )
    sample_rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
    if not sample_rate or not channels:
        raise undecodable(fmt, "no sample rate or channel layout")

    found = Fraction(0)
    decoded = 0.0
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        if packet.duration and packet.time_base:
            found += packet.duration * packet.time_base
        if decoded < DECODE_CHECK_SECONDS:
            decoded += sum(f.samples for f in stream.codec_context.decode(packet)) / sample_rate
        if found > max_seconds + 1:
            break  # long enough to refuse; no need to read the rest
    seconds = float(found)
    if decoded == 0:
        raise undecodable(fmt, "no audio frame decodes")
    if seconds > max_seconds:
        raise Invalid(
            "recording_too_long",
            f"The recording is longer than {max_seconds:.0f} s ({max_seconds / 60:g} min), "
            "the longest the analysis accepts.",
        )
    announced = _announced_seconds(container, stream)
    if announced is not None and announced > seconds * 1.02 + 0.25:
        raise _truncated(fmt, announced, seconds)
    if seconds < min_seconds:
        raise Invalid(
            "recording_too_short",
            f"The recording is {seconds:.2f} s long; at least {min_seconds:g} s is needed.",
        )
    return AudioFacts(codec, round(seconds, 3), sample_rate, channels)


def _announced_seconds(
    container: av.container.InputContainer, stream: av.AudioStream
) -> float | None:
    """The duration the container's header states (an MP3's Xing/LAME frame count, an M4A's
    movie header), before any packet is read."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None
