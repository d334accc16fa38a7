"""Turns a knowledge document row into extracted text, whatever its source type."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from service.core.config import Settings
from service.knowledge.extracted import Extracted, ExtractionError
from service.knowledge.pdf import extract_pdf
from service.knowledge.text import extract_text
from service.knowledge.transcripts import (
    TranscriptProvider,
    parse_transcript,
    transcript_provider,
)
from service.knowledge.web import extract_html, fetch_html
from service.repositories.knowledge import DocumentRow

# Reads an object from the knowledge bucket by key.
ObjectGetter = Callable[[str], Awaitable[bytes]]

# Platform seed documents point at the shared public-domain corpus instead of a stored upload.
CORPUS_SCHEME = "corpus://"


class SourceReader:
    def __init__(
        self,
        settings: Settings,
        get_object: ObjectGetter | None,
        transcripts: TranscriptProvider | None = None,
    ) -> None:
        self.settings = settings
        self.get_object = get_object
        self.transcripts = transcripts or transcript_provider(settings)

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
        kind = doc.source_type
        url = doc.source_url or ""  # web and youtube documents are created with one
        if kind == "web":
            html = await fetch_html(
                url,
                timeout_seconds=self.settings.ingest.web_fetch_timeout_seconds,
                max_bytes=self.settings.ingest.web_fetch_max_bytes,
                allow_private=self.settings.ingest.web_fetch_allow_private,
            )
            return await asyncio.to_thread(extract_html, html, url)
        data = await self._stored_bytes(doc)
        if kind == "youtube":
            if data is None:
                return await self.transcripts.fetch(url)
            return parse_transcript(data)
        if data is None:
            raise ExtractionError("file_missing", "No file was uploaded for this document.")
        if kind == "pdf":
            return await asyncio.to_thread(extract_pdf, data)
        return await asyncio.to_thread(extract_text, data)
