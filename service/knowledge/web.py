"""Web pages: a bounded fetch with httpx, then trafilatura keeps the main content only."""

from __future__ import annotations

import re

import httpx
import trafilatura

from service.knowledge.extracted import Block, Extracted, ExtractionError

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "piano-platform-ingest/0.1 (+knowledge base)"


async def fetch_html(url: str, *, timeout_seconds: float, max_bytes: int) -> str:
    """Streams the body so a huge or endless response is cut off at `max_bytes`."""
    timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
    try:
        async with (
            httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"},
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise ExtractionError(
                    "fetch_failed", f"The page answered HTTP {response.status_code}."
                )
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in HTML_TYPES:
                raise ExtractionError(
                    "unsupported_content_type",
                    f"Expected an HTML page, got {content_type or 'no content type'}.",
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ExtractionError("page_too_large", f"The page is over {max_bytes} bytes.")
            body = bytearray()
            async for piece in response.aiter_bytes():
                body.extend(piece)
                if len(body) > max_bytes:
                    raise ExtractionError("page_too_large", f"The page is over {max_bytes} bytes.")
            encoding = response.encoding or "utf-8"
    except httpx.TimeoutException as exc:
        raise ExtractionError("fetch_timeout", f"The page did not answer in time: {url}") from exc
    except httpx.HTTPError as exc:
        raise ExtractionError("fetch_failed", f"The page could not be fetched: {exc}") from exc
    return bytes(body).decode(encoding, errors="replace")


def extract_html(html: str, url: str | None = None) -> Extracted:
    text = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        favor_precision=True,
    )
    if not text or not text.strip():
        raise ExtractionError("no_main_content", "No main content was found on the page.")
    metadata = trafilatura.extract_metadata(html, default_url=url)
    title = metadata.title if metadata is not None else None
    blocks: list[Block] = []
    section = title
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        heading = re.match(r"^#{1,6}\s+(.+)$", paragraph)
        if heading and "\n" not in paragraph:
            section = heading.group(1).strip()
        blocks.append(Block(text=paragraph, section=section))
    return Extracted(blocks=blocks, title=title)
