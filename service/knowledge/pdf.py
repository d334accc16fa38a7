"""PDF text, page by page with pypdf; a scan without a text layer is refused (no OCR here)."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from service.knowledge.extracted import Block, Extracted, ExtractionError

log = logging.getLogger(__name__)


def extract_pdf(data: bytes) -> Extracted:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ExtractionError("pdf_encrypted", "The PDF is encrypted.")
        pages = [(i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)]
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ExtractionError("pdf_invalid", f"The file is not a readable PDF: {exc}") from exc
    if not pages:
        raise ExtractionError("pdf_empty", "The PDF has no pages.")
    blocks = [Block(text=text.strip(), page=number) for number, text in pages if text.strip()]
    if not blocks:
        raise ExtractionError(
            "no_text_layer",
            "The PDF has no text layer (a scan?). OCR it first, then upload the result.",
        )
    return Extracted(blocks=blocks, page_count=len(pages))
