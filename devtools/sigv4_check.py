"""S3's request authentication in front of the local S3 server: moto serves the S3 API but
accepts any signature, so the presigned-URL rules (signed Content-Type and Content-Length,
expiry, the exact key) would go untested. This WSGI layer verifies every request's SigV4
signature with botocore's own signer, as S3 and R2 do, and answers in S3's error format.

Checked: header auth (`Authorization: AWS4-HMAC-SHA256 ...`, 15 min clock skew, the body
against `x-amz-content-sha256` when that is a digest) and presigned URLs (`X-Amz-Signature`,
expiry). Not checked: the per-chunk signatures of `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` bodies
(the seed signature over the headers is). `/moto-api/` (local administration) is open, and
while moto replays its recording (requests signed long ago) checks are suspended.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import threading
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
_ADMIN_PREFIX = "/moto-api"
_REPLAY_PATH = "/moto-api/recorder/replay-recording"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class Denied(Exception):
    code: str
    message: str
    status: str = "403 Forbidden"


@dataclass(frozen=True)
class _Signed:
    access_key: str
    date: str  # yyyymmdd
    region: str
    service: str
    timestamp: str  # X-Amz-Date
    signed_headers: list[str]
    signature: str


def _parse_credential(value: str) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise Denied(
            "AuthorizationQueryParametersError", "Malformed credential scope.", "400 Bad Request"
        )
    return parts[0], parts[1], parts[2], parts[3]


def _from_header(header: str, environ: dict[str, Any]) -> _Signed:
    scheme, _, rest = header.partition(" ")
    if scheme != ALGORITHM:
        raise Denied("AccessDenied", f"Only {ALGORITHM} is accepted.")
    fields = dict(item.strip().split("=", 1) for item in rest.split(",") if "=" in item)
    try:
        access_key, date, region, service = _parse_credential(fields["Credential"])
        timestamp = environ["HTTP_X_AMZ_DATE"]
        return _Signed(
            access_key,
            date,
            region,
            service,
            timestamp,
            fields["SignedHeaders"].split(";"),
            fields["Signature"],
        )
    except KeyError as exc:
        raise Denied("AccessDenied", f"Authorization is missing {exc}.", "400 Bad Request") from exc


def _from_query(query: dict[str, str]) -> _Signed:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise Denied(
            "AuthorizationQueryParametersError", f"Only {ALGORITHM} is accepted.", "400 Bad Request"
        )
    try:
        access_key, date, region, service = _parse_credential(query["X-Amz-Credential"])
        return _Signed(
            access_key,
            date,
            region,
            service,
            query["X-Amz-Date"],
            query["X-Amz-SignedHeaders"].split(";"),
            query["X-Amz-Signature"],
        )
    except KeyError as exc:
        raise Denied(
            "AuthorizationQueryParametersError", f"Missing {exc}.", "400 Bad Request"
        ) from exc


def _header(environ: dict[str, Any], name: str) -> str | None:
    if name == "content-type":
        return environ.get("CONTENT_TYPE")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH")
    value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    return str(value) if value is not None else None


def _raw_path_and_query(environ: dict[str, Any]) -> tuple[str, str]:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path, _, query = str(raw).partition("?")
        return path, query
    return quote(environ.get("PATH_INFO", "/"), safe="/~"), environ.get("QUERY_STRING", "")


def _parse_time(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise Denied(
            "AccessDenied", "X-Amz-Date is not a valid timestamp.", "400 Bad Request"
        ) from exc


class SigV4Check:
    """Wraps a WSGI S3 server; `credentials` maps access key ids to their secrets."""

    def __init__(self, app: WsgiApp, credentials: dict[str, str]) -> None:
        self.app = app
        self.credentials = credentials
        self._replays = 0
        self._lock = threading.Lock()

    @contextmanager
    def _replaying(self) -> Any:
        with self._lock:
            self._replays += 1
        try:
            yield
        finally:
            with self._lock:
                self._replays -= 1

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(_REPLAY_PATH):
            with self._replaying():
                return list(self.app(environ, start_response))
        if path.startswith(_ADMIN_PREFIX) or self._replays:
            return self.app(environ, start_response)
        try:
            self.verify(environ, datetime.now(UTC))
        except Denied as denied:
            return self._deny(denied, environ, start_response)
        return self.app(environ, start_response)

    def verify(self, environ: dict[str, Any], now: datetime) -> None:
        raw_path, raw_query = _raw_path_and_query(environ)
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        authorization = environ.get("HTTP_AUTHORIZATION")
        presigned = "X-Amz-Signature" in query
        if authorization and presigned:
            raise Denied("InvalidArgument", "Only one auth mechanism allowed.", "400 Bad Request")
        if not authorization and not presigned:
            raise Denied("AccessDenied", "Anonymous access is not allowed.")
        signed = _from_query(query) if presigned else _from_header(authorization or "", environ)
        secret = self.credentials.get(signed.access_key)
        if secret is None:
            raise Denied("InvalidAccessKeyId", "The access key id does not exist in our records.")
        when = _parse_time(signed.timestamp)
        if signed.date != signed.timestamp[:8]:
            raise Denied("SignatureDoesNotMatch", "Credential date does not match X-Amz-Date.")
        if presigned:
            expires = int(query.get("X-Amz-Expires", "0") or 0)
            if not 1 <= expires <= 7 * 24 * 3600:
                raise Denied(
                    "AuthorizationQueryParametersError",
                    "X-Amz-Expires is out of range.",
                    "400 Bad Request",
                )
            if now > when + timedelta(seconds=expires):
                raise Denied("AccessDenied", "Request has expired")
        elif abs(now - when) > MAX_SKEW:
            raise Denied(
                "RequestTimeTooSkewed",
                "The difference between the request time and the server's time is too large.",
            )

        headers: dict[str, str] = {}
        for name in signed.signed_headers:
            value = _header(environ, name)
            if value is None:
                raise Denied("SignatureDoesNotMatch", f"Signed header {name} is missing.")
            headers[name] = value
        if "host" not in headers:
            raise Denied("SignatureDoesNotMatch", "The host header must be signed.")
        unsigned_query = "&".join(
            pair
            for pair in raw_query.split("&")
            if pair and not pair.startswith("X-Amz-Signature=")
        )
        url = f"http://{headers['host']}{raw_path}" + (
            f"?{unsigned_query}" if unsigned_query else ""
        )
        request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, headers=headers)
        request.context["timestamp"] = signed.timestamp
        credentials = Credentials(signed.access_key, secret)
        signer = (
            S3SigV4QueryAuth(credentials, signed.service, signed.region)
            if presigned
            else S3SigV4Auth(credentials, signed.service, signed.region)
        )
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, signed.signature):
            raise Denied(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if not presigned:
            self._check_payload(environ, headers.get("x-amz-content-sha256"))

    @staticmethod
    def _check_payload(environ: dict[str, Any], declared: str | None) -> None:
        if declared is None:
            raise Denied(
                "InvalidRequest",
                "Missing required header for this request: x-amz-content-sha256",
                "400 Bad Request",
            )
        if len(declared) != 64:  # UNSIGNED-PAYLOAD, STREAMING-...: nothing to compare here
            return
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if hashlib.sha256(body).hexdigest() != declared.lower():
            raise Denied(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                "400 Bad Request",
            )

    @staticmethod
    def _deny(
        denied: Denied, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{escape(denied.code)}</Code><Message>{escape(denied.message)}</Message>"
            f"<Resource>{escape(environ.get('PATH_INFO', ''))}</Resource></Error>"
        ).encode()
        start_response(
            denied.status,
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
