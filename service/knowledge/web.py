"""Web pages: a bounded fetch with httpx, then trafilatura keeps the main content only."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import trafilatura

from service.knowledge.extracted import Block, Extracted, ExtractionError

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "piano-platform-ingest/0.1 (+knowledge base)"
MAX_REDIRECTS = 5
# The same words for every failure below HTTP: refused, reset, unreachable, unknown host or
# silent. Distinct messages would make a document's status a port scanner for its owner.
_UNREACHABLE = "The page could not be fetched (no answer, or not in time)."

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to. Swappable so tests can play a rebinding DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: IPAddress) -> bool:
    return address.is_global


@dataclass(frozen=True)
class _Target:
    """One hop: the URL to request (host replaced by the checked address), and what the server
    must still see: the Host header, and the name TLS sends (SNI) and verifies the certificate
    against."""

    url: str
    host_header: str
    sni_hostname: str | None


async def _pin(url: str, resolve: Resolver, allowed: Callable[[IPAddress], bool]) -> _Target:
    """Resolves once and connects to exactly the address checked, so a DNS answer that changes
    between the check and the connection (rebinding) can't redirect the fetch."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ExtractionError("url_not_allowed", "Only absolute http(s) URLs can be fetched.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answers = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host, port)]
    except (OSError, ValueError) as exc:
        raise ExtractionError("fetch_failed", _UNREACHABLE) from exc
    if not answers:
        raise ExtractionError("fetch_failed", _UNREACHABLE)
    if not all(allowed(a) for a in answers):
        raise ExtractionError("url_not_allowed", f"{host} is not a public address.")
    address = answers[0]
    literal = f"[{address}]" if address.version == 6 else str(address)
    default_port = parts.port is None
    netloc = literal if default_port else f"{literal}:{port}"
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return _Target(
        url=urlunsplit(parts._replace(netloc=netloc)),
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" else None,
    )


async def fetch_html(
    url: str,
    *,
    timeout_seconds: float,
    max_bytes: int,
    allow_private: bool = False,
    resolve: Resolver = system_resolver,
    allowed: Callable[[IPAddress], bool] | None = None,
    verify: ssl.SSLContext | bool = True,
) -> str:
    """One deadline for the whole fetch (every hop, headers and a dripping body included);
    the body is streamed and cut off at `max_bytes`.

    Redirects are followed by hand: every hop is resolved, checked against private addresses
    (unless `allow_private`) and connected to at the address that was checked.
    """
    allowed = allowed or ((lambda _: True) if allow_private else is_public)
    timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 10.0))
    try:
        async with asyncio.timeout(timeout_seconds):
            async with httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,  # a proxy would resolve the name itself, unchecked
                verify=verify,
                headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"},
            ) as client:
                for _ in range(MAX_REDIRECTS + 1):
                    target = await _pin(url, resolve, allowed)
                    extensions = (
                        {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
                    )
                    request = client.build_request(
                        "GET",
                        target.url,
                        headers={"Host": target.host_header},
                        extensions=extensions,
                    )
                    response = await client.send(request, stream=True)
                    try:
                        if response.is_redirect and "location" in response.headers:
                            url = urljoin(url, response.headers["location"])
                            continue
                        return await _read_html(response, max_bytes)
                    finally:
                        await response.aclose()
                raise ExtractionError("fetch_failed", "The page redirected too many times.")
    except (TimeoutError, httpx.TransportError) as exc:
        log.info("web fetch failed", extra={"url": url, "error": repr(exc)})
        raise ExtractionError("fetch_failed", _UNREACHABLE) from exc
    except httpx.HTTPError as exc:
        log.info("web fetch failed", extra={"url": url, "error": repr(exc)})
        raise ExtractionError("fetch_failed", "The page could not be fetched.") from exc


async def _read_html(response: httpx.Response, max_bytes: int) -> str:
    if response.status_code >= 400:
        raise ExtractionError("fetch_failed", f"The page answered HTTP {response.status_code}.")
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
