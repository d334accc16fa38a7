"""Decoding a recording into samples: FFmpeg (through PyAV) for WAV, MP3 and M4A alike.

Resampled to one channel at a fixed rate while decoding, into a buffer sized for the longest
accepted recording, so memory is bounded by the duration limit whatever the file claims.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from service.analysis.result import AnalysisError

ANALYSIS_SAMPLE_RATE = 22050

# The demuxer each accepted format is opened with (never FFmpeg's own format guessing).
DEMUXERS = {"wav": "wav", "mp3": "mp3", "m4a": "mov"}


def decode_mono(
    path: Path, fmt: str, *, max_seconds: float, sr: int = ANALYSIS_SAMPLE_RATE
) -> npt.NDArray[np.float32]:
    """Mono float32 samples at `sr`; AnalysisError if it doesn't decode or runs too long."""
    capacity = int(max_seconds * sr) + sr  # one second of slack for encoder padding
    out = np.empty(capacity, dtype=np.float32)
    filled = 0
    try:
        with av.open(str(path), format=DEMUXERS[fmt]) as container:
            if not container.streams.audio:
                raise AnalysisError("audio_undecodable", "The file has no audio stream.")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            # None flushes the resampler after the last frame.
            for frame in itertools.chain(container.decode(stream), [None]):
                for piece in resampler.resample(frame):
                    samples = piece.to_ndarray()[0]
                    if filled + len(samples) > capacity:
                        raise AnalysisError(
                            "recording_too_long",
                            f"The recording is longer than the {max_seconds:.0f} s analysis limit.",
                        )
                    out[filled : filled + len(samples)] = samples
                    filled += len(samples)
    except av.FFmpegError as exc:
        raise AnalysisError("audio_undecodable", f"The audio could not be decoded: {exc}") from exc
    if filled == 0:
        raise AnalysisError("audio_undecodable", "The file holds no decodable audio.")
    return out[:filled]
