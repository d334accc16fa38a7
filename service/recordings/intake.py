"""Accepting a recording upload, streamed: `multipart/form-data` with an `audio` part and an
optional `metadata` JSON part `{originalName, size, type, hash}`.

As the body arrives: the format is decided from the audio's first bytes (refused at once if it
isn't WAV, MP3 or M4A), the audio is hashed, counted (413 the moment it passes the limit) and
streamed into object storage. When it has all arrived: the declared hash and size are checked and
a real decoder reads the facts. Only then does the object exist, the row get written and the
analysis get queued. Any failure on the way leaves nothing behind: no object, no row.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.core.config import Settings
from service.core.db import Pool
from service.core.exceptions import (
    Invalid,
    ServiceError,
    TooLarge,
    Unavailable,
    UnsupportedMediaType,
)
from service.knowledge.queue import QueueClient
from service.observability.metrics import RECORDING_UPLOAD_BYTES, RECORDING_UPLOADS
from service.recordings.form import Event, FormReader, PartData, PartEnd, PartStart, boundary_of
from service.recordings.formats import SNIFF_BYTES, AudioFormat, sniff
from service.recordings.jobs import enqueue_analysis
from service.recordings.probe import AudioFacts, probe
from service.repositories import recordings as repo
from service.repositories.recordings import NewRecording, RecordingRow
from service.storage import ObjectStore, recording_key
from service.storage.sink import ObjectSink

log = logging.getLogger(__name__)

AUDIO_FIELD = "audio"
METADATA_FIELD = "metadata"
METADATA_MAX_BYTES = 16 * 1024
# Boundaries, part headers and the metadata part on top of the audio itself.
BODY_OVERHEAD_BYTES = 64 * 1024


class UploadMetadata(BaseModel):
    """What the client says about the file. Only `hash` and `size` are checked against the
    bytes; `type` is never trusted (the bytes decide), `originalName` is shown back."""

    model_config = ConfigDict(extra="ignore")
    originalName: str | None = Field(default=None, max_length=1000)
    size: int | None = Field(default=None, ge=0)
    type: str | None = Field(default=None, max_length=255)
    hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class IncomingBody:
    content_type: str | None
    content_length: int | None
    chunks: AsyncIterator[bytes]


@dataclass
class _State:
    """What is known while the body streams in."""

    current: Literal["audio", "metadata", "other"] | None = None
    audio_parts: int = 0
    filename: str | None = None
    head: bytearray = field(default_factory=bytearray)
    fmt: AudioFormat | None = None
    sink: ObjectSink | None = None
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    size: int = 0
    metadata_parts: int = 0
    metadata_raw: bytearray = field(default_factory=bytearray)
    metadata: UploadMetadata | None = None


def display_name(name: str | None, fmt: AudioFormat) -> str:
    """The client's file name without path parts or control characters (shown, never used
    in keys or headers)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return cleaned[:255] or f"recording.{fmt.name}"


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        "file_too_large", f"The recording is larger than {limit} bytes ({limit / 2**20:g} MiB)."
    )


class RecordingIntake:
    def __init__(
        self, settings: Settings, pool: Pool, store: ObjectStore, queue: QueueClient
    ) -> None:
        self.settings, self.pool, self.store, self.queue = settings, pool, store, queue
        self.max_bytes = settings.recording.max_bytes
        self.bucket = settings.storage.bucket_projects

    async def receive(self, body: IncomingBody, owner_id: UUID) -> RecordingRow:
        state = _State()
        try:
            row = await self._receive(body, owner_id, state)
        except ServiceError as exc:
            RECORDING_UPLOADS.labels(state.fmt.name if state.fmt else "unknown", exc.code).inc()
            raise
        RECORDING_UPLOADS.labels(row.format, "accepted").inc()
        RECORDING_UPLOAD_BYTES.inc(row.size_bytes)
        return row

    async def _receive(self, body: IncomingBody, owner_id: UUID, state: _State) -> RecordingRow:
        reader = FormReader(boundary_of(body.content_type))
        body_limit = self.max_bytes + BODY_OVERHEAD_BYTES
        if body.content_length is not None and body.content_length > body_limit:
            raise _too_large(self.max_bytes)  # refused before a byte of the body is read
        recording_id = uuid4()
        with tempfile.TemporaryDirectory(prefix="recording-") as tmp:
            spool = Path(tmp) / "audio"
            try:
                received = 0
                async for chunk in body.chunks:
                    received += len(chunk)
                    if received > body_limit:
                        raise _too_large(self.max_bytes)
                    await self._handle(reader.feed(chunk), state, owner_id, recording_id, spool)
                await self._handle(reader.finish(), state, owner_id, recording_id, spool)
                facts = await self._check(state)
                assert state.sink is not None and state.fmt is not None
                await state.sink.complete()
                return await self._register(owner_id, recording_id, state, facts)
            except BaseException:
                if state.sink is not None:
                    await asyncio.shield(state.sink.abort())
                raise

    # ---- while the body streams -----------------------------------------------------------

    async def _handle(
        self, events: list[Event], s: _State, owner_id: UUID, recording_id: UUID, spool: Path
    ) -> None:
        for event in events:
            if isinstance(event, PartStart):
                s.current = self._start_part(event, s)
            elif isinstance(event, PartData):
                if s.current == "audio":
                    await self._audio(event.data, s, owner_id, recording_id, spool)
                elif s.current == "metadata":
                    s.metadata_raw.extend(event.data)
                    if len(s.metadata_raw) > METADATA_MAX_BYTES:
                        raise Invalid(
                            "metadata_too_large",
                            f"The metadata part is larger than {METADATA_MAX_BYTES} bytes.",
                        )
            elif isinstance(event, PartEnd):
                if s.current == "audio":
                    await self._open_sink(s, owner_id, recording_id, spool)
                elif s.current == "metadata":
                    s.metadata = self._metadata(bytes(s.metadata_raw))
                    if s.metadata.size is not None and s.metadata.size > self.max_bytes:
                        raise _too_large(self.max_bytes)
                s.current = None

    @staticmethod
    def _start_part(event: PartStart, s: _State) -> Literal["audio", "metadata", "other"]:
        if event.name == AUDIO_FIELD:
            s.audio_parts += 1
            if s.audio_parts > 1:
                raise Invalid("duplicate_audio_part", "Send exactly one 'audio' part.")
            s.filename = event.filename
            return "audio"
        if event.name == METADATA_FIELD:
            s.metadata_parts += 1
            if s.metadata_parts > 1:
                raise Invalid("duplicate_metadata_part", "Send at most one 'metadata' part.")
            return "metadata"
        return "other"  # parts the API doesn't know are skipped (within the body's limit)

    async def _audio(
        self, data: bytes, s: _State, owner_id: UUID, recording_id: UUID, spool: Path
    ) -> None:
        s.size += len(data)
        if s.size > self.max_bytes:
            raise _too_large(self.max_bytes)
        s.digest.update(data)
        if s.sink is None:
            s.head.extend(data)
            if len(s.head) >= SNIFF_BYTES:
                await self._open_sink(s, owner_id, recording_id, spool)
        else:
            await s.sink.write(data)

    async def _open_sink(self, s: _State, owner_id: UUID, recording_id: UUID, spool: Path) -> None:
        """On the first bytes that show the format: refuse, or start storing."""
        if s.sink is not None or not s.head:
            return
        s.fmt = sniff(bytes(s.head[:SNIFF_BYTES]))
        if s.fmt is None:
            raise UnsupportedMediaType(
                "unsupported_audio_format",
                "The file is not WAV, MP3 or M4A audio (judged by its first bytes, not its "
                "name or declared type).",
            )
        key = recording_key(owner_id, recording_id, s.fmt.name)
        s.sink = ObjectSink(self.store, self.bucket, key, s.fmt.content_type, spool)
        await s.sink.write(bytes(s.head))

    @staticmethod
    def _metadata(raw: bytes) -> UploadMetadata:
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Invalid("metadata_invalid", "The metadata part is not valid JSON.") from exc
        if not isinstance(value, dict):
            raise Invalid("metadata_invalid", "The metadata part must be a JSON object.")
        try:
            return UploadMetadata.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Invalid("metadata_invalid", f"metadata.{where}: {first['msg']}") from exc

    # ---- once it has all arrived ----------------------------------------------------------

    async def _check(self, s: _State) -> AudioFacts:
        if s.audio_parts == 0:
            raise Invalid("audio_missing", "Send the recording in a multipart part named 'audio'.")
        if s.size == 0:
            raise Invalid("empty_file", "The audio file is empty.")
        assert s.sink is not None and s.fmt is not None  # opened at the audio part's end
        declared = s.metadata
        if declared and declared.size is not None and declared.size != s.size:
            raise Invalid(
                "size_mismatch",
                f"The metadata says {declared.size} bytes but {s.size} arrived.",
            )
        if declared and declared.hash and declared.hash.lower() != s.digest.hexdigest():
            raise Invalid(
                "hash_mismatch",
                "The SHA-256 of the received file doesn't match the metadata's hash.",
            )
        spool = s.sink.close_spool()
        return await asyncio.to_thread(
            probe,
            spool,
            s.fmt,
            head=bytes(s.head[:SNIFF_BYTES]),
            min_seconds=self.settings.recording.min_seconds,
            max_seconds=self.settings.recording.max_seconds,
        )

    async def _register(
        self, owner_id: UUID, recording_id: UUID, s: _State, facts: AudioFacts
    ) -> RecordingRow:
        """The row, then the job; if either fails, the caller's cleanup removes the object and
        this removes the row."""
        assert s.sink is not None and s.fmt is not None
        name = display_name((s.metadata.originalName if s.metadata else None) or s.filename, s.fmt)
        new = NewRecording(
            id=recording_id,
            user_id=owner_id,
            original_filename=name,
            format=s.fmt.name,
            codec=facts.codec,
            storage_key=s.sink.key,
            size_bytes=s.size,
            sha256=s.digest.hexdigest(),
            duration_seconds=facts.duration_seconds,
            sample_rate=facts.sample_rate,
            channels=facts.channels,
        )
        async with self.pool.connection() as conn:
            row = await repo.insert(conn, new)
        try:
            await enqueue_analysis(await self.queue.app(), recording_id)
        except BaseException as exc:
            async with self.pool.connection() as conn:
                await repo.delete(conn, recording_id)
            if isinstance(exc, Exception):
                raise Unavailable("queue_unavailable", "The job queue is not answering.") from exc
            raise
        log.info(
            "recording accepted",
            extra={
                "recording_id": str(recording_id),
                "format": row.format,
                "bytes": row.size_bytes,
            },
        )
        return row
