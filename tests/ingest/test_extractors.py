"""Extraction: real PDF pages, a saved web page over real HTTP, and transcripts with timestamps."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from service.embeddings.tokens import count_wordpiece
from service.knowledge.chunker import Chunker, ChunkingPolicy
from service.knowledge.extracted import ExtractionError
from service.knowledge.pdf import extract_pdf
from service.knowledge.text import extract_text
from service.knowledge.transcripts import parse_transcript
from service.knowledge.web import extract_html, fetch_html
from tests.conftest import CORPUS_DIR

FIXTURES = Path(__file__).parent / "fixtures"
SCANS = CORPUS_DIR / "cooke-1913-scans-pdf"
POLICY = ChunkingPolicy(512, 128, model_max_tokens=256, count_model_tokens=count_wordpiece)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_pdf_chunks_carry_the_right_page_numbers() -> None:
    truth = {
        row["pdf_page_index"]: _norm(row["text"])
        for row in map(json.loads, (SCANS / "page_text.jsonl").read_text().splitlines())
    }
    extracted = extract_pdf((SCANS / "cooke_1913_pp003-040_scans_textlayer.pdf").read_bytes())
    assert extracted.page_count == 38
    chunks = Chunker(POLICY).chunk(extracted)
    assert len(chunks) > 30
    seen_pages: set[int] = set()
    for chunk in chunks:
        assert chunk.page_start is not None and chunk.page_end is not None
        pages = range(chunk.page_start, chunk.page_end + 1)
        seen_pages.update(pages)
        # Each page's share of the chunk is text of that page (ground truth from the scans).
        for piece in _norm(chunk.content).split(" "):
            if len(piece) > 12:
                assert any(piece in truth[p] for p in pages), (piece, list(pages))
        if chunk.page_start == chunk.page_end:
            assert _norm(chunk.content) in truth[chunk.page_start]
    non_blank = {p for p, text in truth.items() if text}
    assert seen_pages >= non_blank
    # Printed page 10 (PDF page 8) starts with the subheading "Freak Pianists".
    assert any(
        "Freak Pianists" in c.content and (c.page_start or 0) <= 8 <= (c.page_end or 0)
        for c in chunks
    )


def test_pdf_without_text_layer_fails_with_no_text_layer() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_pdf((SCANS / "cooke_1913_pp003-040_scans_imageonly.pdf").read_bytes())
    assert info.value.code == "no_text_layer"


def test_not_a_pdf_is_rejected() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_pdf(b"this is not a pdf")
    assert info.value.code == "pdf_invalid"


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".html": "text/html"}

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(FIXTURES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_saved_page_over_http_keeps_the_article_and_drops_boilerplate(site: str) -> None:
    url = f"{site}/piano-blog-post.html"
    html = asyncio.run(fetch_html(url, timeout_seconds=5, max_bytes=1_000_000, allow_private=True))
    extracted = extract_html(html, url)
    text = extracted.joined()
    assert "only single instrument capable of conveying the complete entity" in text
    assert "painters call" in text
    for marker in ("COOKIE-BANNER-MARKER", "NAV-MARKER", "SIDEBAR-MARKER", "FOOTER-MARKER"):
        assert marker not in text
    assert extracted.title and "Piano and Its Player" in extracted.title
    assert any(b.section == "Why the literature is so rich" for b in extracted.blocks)


def test_web_fetch_checks_type_and_size(site: str) -> None:
    with pytest.raises(ExtractionError) as info:
        asyncio.run(
            fetch_html(
                f"{site}/captions.vtt", timeout_seconds=5, max_bytes=1_000_000, allow_private=True
            )
        )
    assert info.value.code == "unsupported_content_type"
    with pytest.raises(ExtractionError) as info:
        asyncio.run(
            fetch_html(
                f"{site}/piano-blog-post.html",
                timeout_seconds=5,
                max_bytes=1000,
                allow_private=True,
            )
        )
    assert info.value.code == "page_too_large"
    with pytest.raises(ExtractionError) as info:
        asyncio.run(
            fetch_html(
                f"{site}/missing.html", timeout_seconds=5, max_bytes=1000, allow_private=True
            )
        )
    assert info.value.code == "fetch_failed"


def test_webvtt_transcript_keeps_cue_timestamps() -> None:
    extracted = parse_transcript((FIXTURES / "captions.vtt").read_bytes())
    first = extracted.blocks[0]
    assert first.start_seconds == pytest.approx(1.5)
    assert first.end_seconds == pytest.approx(4.25)
    assert "<v" not in extracted.joined()
    last = extracted.blocks[-1]
    assert last.start_seconds == pytest.approx(3723.0)
    chunks = Chunker(ChunkingPolicy(40, 10)).chunk(extracted)
    assert len(chunks) > 1
    assert chunks[0].start_seconds == pytest.approx(1.5)
    assert all(c.start_seconds is not None and c.end_seconds is not None for c in chunks)
    assert chunks[-1].end_seconds == pytest.approx(3726.5)


def test_srt_transcript_keeps_cue_timestamps() -> None:
    srt_text = (
        "1\n00:00:02,000 --> 00:00:05,500\nKeep the wrist loose.\n\n"
        "2\n00:01:10,250 --> 00:01:12,000\nNow try it hands together.\n"
    )
    extracted = parse_transcript(srt_text.encode())
    assert [(b.start_seconds, b.end_seconds) for b in extracted.blocks] == [
        (2.0, 5.5),
        (70.25, 72.0),
    ]


def test_bad_transcript_is_rejected() -> None:
    with pytest.raises(ExtractionError) as info:
        parse_transcript(b"WEBVTT\n\nthis is not a cue\n")
    assert info.value.code in ("transcript_invalid", "transcript_empty")


def test_web_fetch_refuses_private_addresses_by_default(site: str) -> None:
    for url in (f"{site}/piano-blog-post.html", "http://169.254.169.254/computeMetadata/v1/"):
        with pytest.raises(ExtractionError) as info:
            asyncio.run(fetch_html(url, timeout_seconds=5, max_bytes=1000))
        assert info.value.code == "url_not_allowed"


def test_a_megabyte_line_is_not_mistaken_for_a_heading() -> None:
    """The heading patterns backtrack quadratically on a long line that starts like one ("# a",
    many spaces, one more word): 20,000 spaces took minutes. Long lines are not headings."""
    data = ("# a" + " " * 1_000_000 + "b").encode()
    done: list[str | None] = []
    worker = threading.Thread(
        target=lambda: done.append(extract_text(data).blocks[0].section), daemon=True
    )
    worker.start()
    worker.join(10)
    assert done == [None], "extracting one long line did not finish in 10 s"
