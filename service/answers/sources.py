"""How a retrieved chunk is shown to clients: location, snippet and a deep link."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from service.search.hybrid import SearchHit

SNIPPET_CHARS = 240


def document_url(hit: SearchHit) -> str:
    """The original when it is on the web; otherwise our access-checked file route."""
    if hit.source_url and hit.source_url.startswith(("http://", "https://")):
        return hit.source_url
    return f"/api/sources/{hit.document_id}/file"


def with_time(url: str, seconds: float) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "t"] + [("t", str(int(seconds)))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def deep_link(hit: SearchHit) -> str:
    """`#page=N` for PDFs (PDF viewers honour it), `?t=S` for video, the page itself otherwise."""
    url = document_url(hit)
    if hit.page_start is not None and hit.source_type in ("pdf", "text"):
        return f"{url.split('#')[0]}#page={hit.page_start}"
    if hit.start_seconds is not None:
        return with_time(url, hit.start_seconds)
    return url


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + "…"


def source_json(n: int, hit: SearchHit) -> dict[str, Any]:
    pages = None
    if hit.page_start is not None:
        pages = {"start": hit.page_start, "end": hit.page_end or hit.page_start}
    return {
        "n": n,
        "document_id": str(hit.document_id),
        "title": hit.title,
        "source_type": hit.source_type,
        "chunk_id": hit.chunk_id,
        "chunk_index": hit.chunk_index,
        "pages": pages,
        "page": hit.page_start,
        "timestamp_seconds": hit.start_seconds,
        "section": hit.section,
        "text": hit.content,
        "snippet": snippet(hit.content),
        "score": round(hit.score, 6),
        "similarity": round(hit.similarity, 4),
        "url": deep_link(hit),
    }
