"""Decides whether an uploaded object is a PDF we accept, and reads its facts.

A presigned PUT can't stop a client from uploading anything (locally nothing checks the signature
at all), so the confirm step is where size, magic bytes and parseability are enforced.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass

from pypdf import PdfReader

from service.models.text import clean_line
from service.storage import ObjectStore

log = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF"
PDF_CONTENT_TYPE = "application/pdf"
_SPOOL_BYTES = 8 * 1024 * 1024


class UploadRejected(Exception):
    def __init__(self, code: str, message: str, *, object_exists: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.object_exists = object_exists


@dataclass(frozen=True)
class PdfFacts:
    page_count: int
    file_size: int
    etag: str
    title: str | None


def _metadata_title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # malformed metadata must not fail an otherwise good PDF
        return None
    # Metadata is whatever the PDF's producer wrote, NUL and control characters included.
    title = clean_line(str(title)).strip() if title else ""
    return title[:500] or None


def inspect_upload(store: ObjectStore, bucket: str, key: str, max_bytes: int) -> PdfFacts:
    """Raises UploadRejected with the 422 code; StorageUnavailable if the store is down."""
    info = store.head(bucket, key)
    if info is None:
        raise UploadRejected(
            "upload_missing", "Nothing was uploaded to the upload URL yet.", object_exists=False
        )
    if (info.content_type or "").split(";")[0].strip().lower() != PDF_CONTENT_TYPE:
        # R2/S3 already refuse this (Content-Type is signed); stores that skip signature checks don't.
        raise UploadRejected(
            "wrong_content_type",
            f"The upload was sent as {info.content_type!r}; it must be {PDF_CONTENT_TYPE}.",
        )
    if info.size > max_bytes:
        raise UploadRejected(
            "file_too_large", f"The file is {info.size} bytes; the limit is {max_bytes} bytes."
        )
    if store.read_range(bucket, key, 0, len(PDF_MAGIC)) != PDF_MAGIC:
        raise UploadRejected("not_a_pdf", "The file does not start with the %PDF signature.")
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        store.download_to(bucket, key, spool)
        spool.seek(0)
        try:
            reader = PdfReader(spool)
            if reader.is_encrypted and not reader.decrypt(""):
                raise UploadRejected("pdf_encrypted", "The PDF is password-protected.")
            page_count = len(reader.pages)
            title = _metadata_title(reader)
        except UploadRejected:
            raise
        except Exception as exc:  # pypdf raises many types on damaged input
            log.info("unreadable pdf", extra={"key": key, "error": repr(exc)})
            raise UploadRejected("pdf_corrupt", "The PDF is damaged and can't be read.") from exc
    if page_count < 1:
        raise UploadRejected("pdf_corrupt", "The PDF has no pages.")
    return PdfFacts(page_count=page_count, file_size=info.size, etag=info.etag, title=title)
