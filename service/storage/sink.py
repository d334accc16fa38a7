"""Streaming an upload into object storage while it arrives, with nothing left behind if it fails.

Bytes go to a local spool file (the decoder reads it later) and, every `part_size` bytes, that
stretch is sent as one part of an S3 multipart upload, one part in flight while the next arrives.
The object only comes into existence on `complete()`: an upload aborted (or abandoned by a crash)
before then leaves no object, just an incomplete upload the store expires. Short files skip the
multipart exchange and are sent with one PUT on completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from service.storage.store import ObjectStore, StorageUnavailable

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # S3 and R2 want parts of at least 5 MiB (but the last)


class ObjectSink:
    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        content_type: str,
        spool: Path,
        *,
        part_size: int = PART_SIZE,
    ) -> None:
        self.store, self.bucket, self.key, self.content_type = store, bucket, key, content_type
        self.spool = spool
        self.part_size = part_size
        self.file = spool.open("wb")
        self.size = 0
        self.sent = 0  # bytes handed to part uploads
        self.upload_id: str | None = None
        self.etags: list[str] = []
        self.in_flight: asyncio.Task[str] | None = None
        self.completed = False

    async def write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)
        if self.size - self.sent >= self.part_size:
            await self._send_part(self.part_size)

    async def _send_part(self, length: int) -> None:
        if self.in_flight is not None:
            self.etags.append(await self.in_flight)
            self.in_flight = None
        if self.upload_id is None:
            self.upload_id = await asyncio.to_thread(
                self.store.create_multipart, self.bucket, self.key, self.content_type
            )
        if not self.file.closed:
            self.file.flush()  # the part is read back from the spool by another thread
        number, offset = len(self.etags) + 1, self.sent
        self.sent += length
        self.in_flight = asyncio.create_task(
            asyncio.to_thread(self._upload_range, self.upload_id, number, offset, length)
        )

    def _upload_range(self, upload_id: str, number: int, offset: int, length: int) -> str:
        with self.spool.open("rb") as f:
            f.seek(offset)
            data = f.read(length)
        return self.store.upload_part(self.bucket, self.key, upload_id, number, data)

    def close_spool(self) -> Path:
        """Everything written so far, on disk, for reading."""
        self.file.close()
        return self.spool

    async def complete(self) -> None:
        """Makes the object exist. On failure nothing does (the upload is aborted)."""
        self.file.close()
        try:
            if self.upload_id is None and self.in_flight is None:
                await asyncio.to_thread(
                    self.store.put_file, self.bucket, self.key, str(self.spool), self.content_type
                )
            else:
                if self.size > self.sent:
                    await self._send_part(self.size - self.sent)
                assert self.in_flight is not None and self.upload_id is not None
                self.etags.append(await self.in_flight)
                self.in_flight = None
                await asyncio.to_thread(
                    self.store.complete_multipart, self.bucket, self.key, self.upload_id, self.etags
                )
        except BaseException:
            await self.abort()
            raise
        self.completed = True

    async def abort(self) -> None:
        """Drops whatever was sent; never raises (it runs while another error propagates)."""
        self.file.close()
        if self.in_flight is not None:
            # A thread can't be cancelled: let the part finish, then abort the whole upload.
            with contextlib.suppress(BaseException):
                await asyncio.shield(self.in_flight)
            self.in_flight = None
        try:
            if self.completed:
                await asyncio.to_thread(self.store.delete, self.bucket, self.key)
            elif self.upload_id is not None:
                await asyncio.to_thread(
                    self.store.abort_multipart, self.bucket, self.key, self.upload_id
                )
        except StorageUnavailable:
            log.warning(
                "could not clean up an aborted upload; the store expires incomplete uploads",
                extra={"key": self.key, "upload_id": self.upload_id},
            )
