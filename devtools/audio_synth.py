"""Piano-like test recordings with known onsets, encoded as WAV, MP3 and M4A through PyAV.

Each note is a sum of slightly inharmonic partials (stiff-string stretch), each decaying on its
own (upper partials faster), with a 4 ms hammer attack. Velocity scales the level and opens up
the upper partials (a harder stroke is brighter). A key released before the next note is damped
with a short raised-cosine fade followed by an exponential damper decay (no click); with the
pedal down the note rings on. The score is the ground truth the analysis tests assert against.

`python -m devtools.audio_synth OUT_DIR [--take NAME ...]` writes the takes as files (the
walk-through in docs/recordings.md uploads them).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 44100
Format = Literal["wav", "mp3", "m4a"]
FORMATS: tuple[Format, ...] = ("wav", "mp3", "m4a")
# PyAV muxer and encoder per format: RIFF/PCM, MPEG-1 Layer III (LAME), AAC in an M4A ("ipod")
# container, which is what phones' voice-memo apps write.
_MUXERS: dict[Format, tuple[str, str, str]] = {
    "wav": ("wav", "pcm_s16le", "s16"),
    "mp3": ("mp3", "libmp3lame", "fltp"),
    "m4a": ("ipod", "aac", "fltp"),
}
_DAMPER_SECONDS = 0.06


@dataclass(frozen=True)
class Note:
    onset: float  # seconds
    midi: int
    velocity: float  # 0..1
    held: float  # seconds the key stays down
    pedal: bool = False  # sustain pedal down: no damper when the key comes up

    @property
    def frequency(self) -> float:
        return float(440.0 * 2 ** ((self.midi - 69) / 12))


def _tone(note: Note, sr: int) -> npt.NDArray[np.float64]:
    ring = 3.0 if note.pedal else _DAMPER_SECONDS
    t = np.arange(int((note.held + ring) * sr)) / sr
    out = np.zeros_like(t)
    stretch = 0.0004  # inharmonicity of a stiff string
    for k in range(1, 13):
        f = k * note.frequency * np.sqrt(1 + stretch * k * k)
        if f > sr / 2 - 2000:
            break
        amplitude = k**-1.1 * note.velocity ** (0.4 * (k - 1))
        out += amplitude * np.sin(2 * np.pi * f * t) * np.exp(-(0.6 + 0.45 * k) * t)
    envelope = np.minimum(1.0, t / 0.004)
    if not note.pedal:
        # The damper: a smooth (raised-cosine) fall to silence, so the release makes no click.
        after = np.clip((t - note.held) / _DAMPER_SECONDS, 0, 1)
        envelope = envelope * (0.5 + 0.5 * np.cos(np.pi * after))
    return np.asarray(note.velocity * out * envelope)


def render(
    notes: Sequence[Note], *, tail: float = 1.0, sr: int = SAMPLE_RATE
) -> npt.NDArray[np.float32]:
    """Mono float32 at `sr`, peak-normalised to -2 dBFS (relative levels between notes kept)."""
    length = max(n.onset + n.held for n in notes) + tail
    y = np.zeros(int(length * sr))
    for note in notes:
        tone = _tone(note, sr)
        start = round(note.onset * sr)
        end = min(len(y), start + len(tone))
        y[start:end] += tone[: end - start]
    # A faint noise floor, like a room: no recording is digitally silent between notes.
    y += np.random.default_rng(7).normal(0, 1e-4, len(y))
    y *= 0.8 / max(1e-9, float(np.abs(y).max()))
    return y.astype(np.float32)


def encode(
    y: npt.NDArray[np.float32], fmt: Format, *, sr: int = SAMPLE_RATE, bitrate: int = 128_000
) -> bytes:
    """`y` encoded as a complete file of format `fmt` (mono)."""
    container_name, codec, sample_format = _MUXERS[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_name) as container:
        stream = container.add_stream(codec, rate=sr, layout="mono")
        assert isinstance(stream, av.AudioStream)
        if fmt != "wav":
            stream.bit_rate = bitrate
        samples: npt.NDArray[np.generic] = (
            (np.clip(y, -1, 1) * 32767).astype(np.int16) if sample_format == "s16" else y
        )
        step = sr  # PyAV re-frames to the codec's frame size itself
        for start in range(0, len(samples), step):
            chunk = np.ascontiguousarray(samples[start : start + step]).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


# ---- the scenarios the analysis tests use ------------------------------------------------------

C_MAJOR = (60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 62)


def scale(
    *,
    count: int = 16,
    ioi: float = 0.5,
    start: float = 0.5,
    velocity: float = 0.6,
    articulation: float = 0.95,
    pedal: bool = False,
) -> list[Note]:
    """An even run up and down a C major scale: `articulation` is the held share of each beat."""
    return [
        Note(start + i * ioi, C_MAJOR[i % len(C_MAJOR)], velocity, articulation * ioi, pedal)
        for i in range(count)
    ]


def jittered(notes: Sequence[Note], max_ms: float, seed: int = 3) -> list[Note]:
    """Every onset moved by a uniform random offset within +/- `max_ms` (the first stays put)."""
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-max_ms / 1000, max_ms / 1000, len(notes))
    offsets[0] = 0.0
    return [replace(n, onset=n.onset + float(o)) for n, o in zip(notes, offsets, strict=True)]


def swell(notes: Sequence[Note], start: float = 0.08, end: float = 1.0) -> list[Note]:
    """A crescendo: velocities rise geometrically from `start` (pp) to `end` (ff)."""
    ratio = (end / start) ** (1 / max(1, len(notes) - 1))
    return [replace(n, velocity=start * ratio**i) for i, n in enumerate(notes)]


def scenario(name: str) -> list[Note]:
    """Named takes: steady, jittered (+/-60 ms), swell (pp to ff), staccato, legato, pedal."""
    takes = {
        "steady": scale(),
        "jittered": jittered(scale(), 60),
        "swell": swell(scale(count=24)),
        "staccato": scale(articulation=0.25),
        "legato": scale(articulation=1.0),
        "pedal": scale(articulation=1.0, pedal=True),
    }
    return takes[name]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument(
        "--take",
        action="append",
        choices=["steady", "jittered", "swell", "staccato", "legato", "pedal"],
        help="which takes (repeatable; default: all), each written as WAV, MP3 and M4A",
    )
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for take in args.take or ["steady", "jittered", "swell", "staccato", "legato", "pedal"]:
        y = render(scenario(take))
        for fmt in FORMATS:
            path = args.out_dir / f"{take}.{fmt}"
            path.write_bytes(encode(y, fmt))
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
