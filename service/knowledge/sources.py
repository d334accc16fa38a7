"""Turns a knowledge document row into extracted text, whatever its source type."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from service.core.config import Settings
from service.knowledge.extracted import Extracted, ExtractionError, cleaned
from service.knowledge.offload import InThread, Offload
from service.knowledge.pdf import extract_pdf
from service.knowledge.text import extract_text
from service.knowledge.transcripts import (
    TranscriptProvider,
    parse_transcript,
    transcript_provider,
)
from service.knowledge.web import extract_html, fetch_html
from service.models.knowledge import SourceType
from service.repositories.knowledge import DocumentRow

# Reads an object from the knowledge bucket by key.
ObjectGetter = Callable[[str], Awaitable[bytes]]

# Platform seed documents point at the shared public-domain corpus instead of a stored upload.
CORPUS_SCHEME = "corpus://"


def parse(kind: SourceType, data: bytes | str, url: str | None) -> Extracted:
    """The CPU-bound half: a file (or a fetched page) to clean text blocks. Picklable, so the
    worker runs it in a child process."""
    if kind == "web":
        assert isinstance(data, str)
        extracted = extract_html(data, url)
    elif kind == "youtube":
        extracted = parse_transcript(data)
    elif kind == "pdf":
        assert isinstance(data, bytes)
        extracted = extract_pdf(data)
    else:
        assert isinstance(data, bytes)
        extracted = extract_text(data)
    return cleaned(extracted)


class SourceReader:
    def __init__(
        self,
        settings: Settings,
        get_object: ObjectGetter | None,
        transcripts: TranscriptProvider | None = None,
        offload: Offload | None = None,
    ) -> None:
        self.settings = settings
        self.get_object = get_object
        self.transcripts = transcripts or transcript_provider(settings)
        self.offload = offload or InThread()

    async def _stored_bytes(self, doc: DocumentRow) -> bytes | None:
        url = doc.source_url or ""
        if url.startswith(CORPUS_SCHEME):
            return await asyncio.to_thread(self._corpus_file(url).read_bytes)
        key = doc.storage_key
        if not key:
            return None
        if self.get_object is None:
            raise ExtractionError("storage_unavailable", "No object store is configured.")
        try:
            return await self.get_object(key)
        except Exception as exc:
            raise ExtractionError(
                "file_missing",
                "The uploaded file could not be read; upload it, then process again.",
            ) from exc

    def _corpus_file(self, url: str) -> Path:
        root = self.settings.local.corpus_dir.resolve()
        path = (root / url.removeprefix(CORPUS_SCHEME)).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise ExtractionError("file_missing", f"Corpus file not found: {url}")
        return path

    async def extract(self, doc: DocumentRow) -> Extracted:
        """I/O here (fetch, read the stored file), parsing through `offload`."""
        kind = doc.source_type
        url = doc.source_url or ""  # web and youtube documents are created with one
        data: bytes | str | None
        if kind == "web":
            data = await fetch_html(
                url,
                timeout_seconds=self.settings.ingest.web_fetch_timeout_seconds,
                max_bytes=self.settings.ingest.web_fetch_max_bytes,
                allow_private=self.settings.ingest.web_fetch_allow_private,
            )
        else:
            data = await self._stored_bytes(doc)
            if data is None and kind == "youtube":
                return await self.transcripts.fetch(url)
        if data is None:
            raise ExtractionError("file_missing", "No file was uploaded for this document.")
        return await self.offload.run(parse, kind, data, url or None)
