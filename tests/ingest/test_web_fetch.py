"""Web fetches against local servers: one deadline, DNS rebinding, redirects re-checked, TLS
with the pinned address, and failures that all read the same."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.live_server import free_port
from service.knowledge.extracted import ExtractionError
from service.knowledge.web import IPAddress, fetch_html

PAGE = b"<html><head><title>Scales</title></head><body><p>Play slowly.</p></body></html>"


class _Server:
    """An HTTP server on one loopback address that records what it was asked."""

    def __init__(self, host: str, port: int, respond: Callable[[BaseHTTPRequestHandler], None]):
        self.requests: list[dict[str, str]] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                seen.append({"path": self.path, "host": self.headers.get("Host", "")})
                respond(self)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _page(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(PAGE)))
    handler.end_headers()
    handler.wfile.write(PAGE)


def _redirect_to(location: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


def _drip(handler: BaseHTTPRequestHandler) -> None:
    """Headers at once, then one byte a second: never idle long enough for a read timeout."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(60):
        try:
            handler.wfile.write(b"x")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(1)


class _Dns:
    """A resolver whose answers the test scripts per name; a list answers once per entry."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        queue = self.answers[host]
        return [queue.pop(0) if len(queue) > 1 else queue[0]]


# 127.0.0.2 plays a public host; 127.0.0.1 plays the internal network it must never reach.
PUBLIC, INTERNAL = "127.0.0.2", "127.0.0.1"


def _public_only(address: IPAddress) -> bool:
    return address == ipaddress.ip_address(PUBLIC)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def servers(port: int) -> Iterator[Callable[..., _Server]]:
    started: list[_Server] = []

    def start(host: str, respond: Callable[[BaseHTTPRequestHandler], None]) -> _Server:
        server = _Server(host, port, respond)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def _fetch(url: str, dns: _Dns, timeout: float = 5, **kw: Any) -> str:
    async def run() -> str:
        # A guard far above the fetch's own deadline: the test fails, it doesn't hang.
        return await asyncio.wait_for(
            fetch_html(
                url,
                timeout_seconds=timeout,
                max_bytes=1_000_000,
                resolve=dns,
                allowed=kw.pop("allowed", _public_only),
                **kw,
            ),
            timeout * 6,
        )

    return asyncio.run(run())


def test_a_dns_answer_that_changes_after_the_check_is_not_followed(
    port: int, servers: Callable[..., _Server]
) -> None:
    """The first answer is public and passes the check; every later answer is internal. The
    fetch connects to the address it checked, so the internal server never hears of it."""
    public, internal = servers(PUBLIC, _page), servers(INTERNAL, _page)
    dns = _Dns({"rebind.test": [PUBLIC, INTERNAL]})
    html = _fetch(f"http://rebind.test:{port}/lesson", dns)
    assert "Play slowly." in html
    assert public.requests == [{"path": "/lesson", "host": f"rebind.test:{port}"}]
    assert internal.requests == []
    assert dns.calls == ["rebind.test"], "resolved once, used for the connection"


def test_every_redirect_hop_is_resolved_and_checked(
    port: int, servers: Callable[..., _Server]
) -> None:
    public = servers(PUBLIC, _redirect_to(f"http://intranet.test:{port}/admin"))
    internal = servers(INTERNAL, _page)
    dns = _Dns({"blog.test": [PUBLIC], "intranet.test": [INTERNAL]})
    with pytest.raises(ExtractionError) as refused:
        _fetch(f"http://blog.test:{port}/post", dns)
    assert refused.value.code == "url_not_allowed"
    assert len(public.requests) == 1 and internal.requests == []
    assert dns.calls == ["blog.test", "intranet.test"]


def test_a_server_dripping_bytes_is_cut_off_at_the_total_deadline(
    port: int, servers: Callable[..., _Server]
) -> None:
    servers(PUBLIC, _drip)
    started = time.monotonic()
    with pytest.raises(ExtractionError) as slow:
        _fetch(f"http://drip.test:{port}/", _Dns({"drip.test": [PUBLIC]}), timeout=2)
    assert time.monotonic() - started < 5, "one byte a second must not hold the slot"
    assert slow.value.code == "fetch_failed"


def test_connection_failures_all_read_the_same(port: int, servers: Callable[..., _Server]) -> None:
    """Refused, silent (accepts, never answers) and unknown host: one code and one message, so
    a teacher can't map which ports answer from a document's status."""
    silent = socket.socket()
    silent.bind((PUBLIC, 0))
    silent.listen()
    closed = free_port()
    dns = _Dns({"h.test": [PUBLIC]})

    async def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    errors = []
    try:
        for url, resolver in (
            (f"http://h.test:{closed}/", dns),
            (f"http://h.test:{silent.getsockname()[1]}/", dns),
            ("http://nowhere.test/", unknown),
        ):
            with pytest.raises(ExtractionError) as failed:
                _fetch(url, resolver, timeout=1)  # type: ignore[arg-type]
            errors.append((failed.value.code, failed.value.message))
    finally:
        silent.close()
    assert len(set(errors)) == 1, errors
    assert errors[0][0] == "fetch_failed"
    assert "refused" not in errors[0][1].lower() and "errno" not in errors[0][1].lower()


def _tls_context(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext, list[str]]:
    """A CA, a certificate for `name` only, the server's context (recording the SNI it gets) and
    a client context that trusts just that CA."""
    now = datetime.datetime.now(datetime.UTC)

    def cert(subject: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = cert("test CA", ca_key, ca_name, ca_key, True)
    leaf = cert(name, leaf_key, ca_name, ca_key, False)
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "leaf.key")
    sni: list[str] = []
    server.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name or "")
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client, sni


def test_https_keeps_sni_and_certificate_checks_on_the_pinned_address(
    port: int, servers: Callable[..., _Server], tmp_path: Path
) -> None:
    server_ctx, client_ctx, sni = _tls_context(tmp_path, "lessons.test")
    https = servers(PUBLIC, _page)
    https.httpd.socket = server_ctx.wrap_socket(https.httpd.socket, server_side=True)
    dns = _Dns({"lessons.test": [PUBLIC], "other.test": [PUBLIC]})

    html = _fetch(f"https://lessons.test:{port}/", dns, verify=client_ctx)
    assert "Play slowly." in html
    assert sni == ["lessons.test"], "the name goes in SNI, not the address"
    assert https.requests[0]["host"] == f"lessons.test:{port}"

    # The certificate is still checked against the name asked for.
    with pytest.raises(ExtractionError) as mismatch:
        _fetch(f"https://other.test:{port}/", dns, verify=client_ctx)
    assert mismatch.value.code == "fetch_failed"
