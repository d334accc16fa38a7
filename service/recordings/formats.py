"""The audio formats we accept, recognised by their first bytes only.

The file's name and the declared content type are never trusted: a PDF or an executable renamed
`.wav` is refused here, before anything is stored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Enough for every signature below: RIFF size WAVE, a 4-byte MPEG frame header, size ftyp brand.
SNIFF_BYTES = 12


@dataclass(frozen=True)
class AudioFormat:
    name: str  # also the object key's extension
    content_type: str
    demuxer: str  # the FFmpeg demuxer it is opened with: never FFmpeg's own guess
    codecs: frozenset[str]  # FFmpeg decoder names accepted inside it
    codec_prefix: str = ""  # ... or any decoder whose name starts with this

    def accepts_codec(self, codec: str) -> bool:
        return codec in self.codecs or bool(
            self.codec_prefix and codec.startswith(self.codec_prefix)
        )


WAV = AudioFormat("wav", "audio/wav", "wav", frozenset(), codec_prefix="pcm_")
MP3 = AudioFormat("mp3", "audio/mpeg", "mp3", frozenset({"mp3", "mp3float"}))
M4A = AudioFormat("m4a", "audio/mp4", "mov", frozenset({"aac", "alac"}))
FORMATS = {f.name: f for f in (WAV, MP3, M4A)}

# ISO base media major brands of M4A/MP4 audio: iTunes/voice memos (M4A, M4B audiobooks) and the
# generic brands Android recorders write.
M4A_BRANDS = frozenset(
    {b"M4A ", b"M4B ", b"mp41", b"mp42", b"isom", b"iso2", b"iso4", b"iso5", b"iso6"}
)


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG-1/2/2.5 Layer III frame header: 11 sync bits, a real version, layer III,
    a bitrate index other than 'bad' and a real sample-rate index."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    return version != 0b01 and layer == 0b01 and bitrate != 0b1111 and rate != 0b11


def sniff(head: bytes) -> AudioFormat | None:
    """The format the first bytes announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:3] == b"ID3" or _mpeg_audio_frame(head):
        return MP3
    if head[4:8] == b"ftyp" and head[8:12] in M4A_BRANDS:
        return M4A
    return None


def riff_declared_size(head: bytes) -> int | None:
    """The file size a WAV's RIFF header announces (None: the writer didn't know it)."""
    if len(head) < 8:
        return None
    (size,) = struct.unpack("<I", head[4:8])
    return None if size in (0, 0xFFFFFFFF) else size + 8
