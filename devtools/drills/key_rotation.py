"""Key-rotation drill: rotate the JWT signing key under load; no request may fail.

Rehearses runbooks/procedures/secret-rotation.md on the local stack's file-based key ring
(``JWT_ACCEPTED_KEYS_DIR`` + the signing key file, hot-reloaded every ``JWT_KEY_RELOAD_SECONDS``).
Two API instances share the key files, like a MIG shares its secrets, and a client calls them
alternately the whole time, refreshing its token as a browser would:

1. both instances learn the new public key (accepted dir);
2. the signing key file is replaced; the old public key moves to the accepted dir;
3. once every old access token has expired, the old public key is removed.

It passes when no request failed, the client saw tokens of both keys, and the JWKS ends with
the new key only. ``skip_announce`` leaves out phase 1: with instances reloading at different
moments that must produce failures, which the tests use to show the drill can fail.

    python -m devtools.drills.key_rotation [--database-url URL] [--report PATH]
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.drills import EMBEDDED_DIR, parse_args, publish
from devtools.live_server import LiveServer
from devtools.postgres import create_scratch_database, start_embedded
from service.app import create_app
from service.auth.keys import generate_private_key_pem, thumbprint
from service.core.config import Settings

PASSWORD = "rotate-me-please"  # noqa: S105 - a throwaway drill account


@dataclass
class Report:
    ok: bool
    requests: int = 0
    failed: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    kids_seen: int = 0
    refreshes: int = 0
    old_token_valid_after_switch: bool = False
    jwks_kids_at_end: int = 0
    final_kid_is_new: bool = False
    seconds: float = 0.0


class Client(threading.Thread):
    """Calls GET /api/auth/me on the instances in turn; refreshes its token every second."""

    def __init__(self, urls: list[str], tokens: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.tokens = dict(tokens)
        self.stop = threading.Event()
        self.requests = 0
        self.refreshes = 0
        self.failures: Counter[str] = Counter()
        self.kids: list[str] = []

    def run(self) -> None:
        last_refresh = time.monotonic()
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                url = self.urls[self.requests % len(self.urls)]
                self.requests += 1
                self._note_kid(self.tokens["access_token"])
                resp = http.get(
                    f"{url}/api/auth/me",
                    headers={"authorization": f"Bearer {self.tokens['access_token']}"},
                )
                if resp.status_code != 200:
                    self.failures[f"me {resp.status_code} {_code(resp)}"] += 1
                if time.monotonic() - last_refresh >= 1.0:
                    last_refresh = time.monotonic()
                    self._refresh(http, self.urls[self.refreshes % len(self.urls)])
                time.sleep(0.01)

    def _refresh(self, http: httpx.Client, url: str) -> None:
        self.refreshes += 1
        self.requests += 1
        resp = http.post(
            f"{url}/api/auth/refresh", json={"refresh_token": self.tokens["refresh_token"]}
        )
        if resp.status_code != 200:
            self.failures[f"refresh {resp.status_code} {_code(resp)}"] += 1
            return
        self.tokens = resp.json()

    def _note_kid(self, token: str) -> None:
        kid = str(jwt.get_unverified_header(token).get("kid"))
        if not self.kids or self.kids[-1] != kid:
            self.kids.append(kid)


def _code(resp: httpx.Response) -> str:
    try:
        return str(resp.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "-"


def _public_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def thumbprint_of(private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return thumbprint(key.public_key())


def _first_new_key_token(http: httpx.Client, email: str, old_kid: str) -> str:
    """Log in until the instance has picked up the new signing key."""
    deadline = time.monotonic() + 10
    while True:
        resp = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        resp.raise_for_status()
        token = str(resp.json()["access_token"])
        if jwt.get_unverified_header(token).get("kid") != old_kid:
            return token
        if time.monotonic() > deadline:
            raise RuntimeError("the instance never switched to the new signing key")
        time.sleep(0.05)


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run(
    database_url: str,
    local_dir: Path,
    *,
    reload_seconds: tuple[float, float] = (0.1, 0.1),
    skip_announce: bool = False,
    settle_seconds: float | None = None,
) -> Report:
    started = time.monotonic()
    keys_dir = local_dir / "keys"
    accepted = keys_dir / "accepted"
    accepted.mkdir(parents=True, exist_ok=True)
    signing = keys_dir / "jwt-signing.pem"
    old_pem = generate_private_key_pem()
    _write_atomically(signing, old_pem)

    def settings(reload: float) -> Settings:
        return Settings.with_values(
            environment="test",
            database_url=database_url,
            local_dir=local_dir,
            log_level="WARNING",
            jwt_key_reload_seconds=reload,
            access_token_ttl_seconds=ttl,
            jwt_leeway_seconds=0,
        )

    # Long enough for every instance to have re-read the key files.
    settle = settle_seconds if settle_seconds is not None else 2 * max(reload_seconds) + 0.3
    # Short-lived tokens keep the drill short, but an old token must outlive one settle period.
    ttl = int(2 * settle) + 6
    report = Report(ok=False)
    probe_failures: Counter[str] = Counter()
    with (
        LiveServer(create_app(settings(reload_seconds[0]))) as a,
        LiveServer(create_app(settings(reload_seconds[1]))) as b,
    ):
        with httpx.Client(base_url=a.url, timeout=10) as http:
            email = f"rotation-{time.time_ns()}@example.com"
            http.post(
                "/api/auth/register",
                json={
                    "email": email,
                    "password": PASSWORD,
                    "display_name": "Drill",
                    "role": "student",
                },
            ).raise_for_status()
            login = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            login.raise_for_status()
            client = Client([a.url, b.url], login.json())
            client.start()
            try:
                time.sleep(0.5)
                new_pem = generate_private_key_pem()
                if not skip_announce:  # phase 1: every instance accepts the new key first
                    _write_atomically(accepted / "next.pem", _public_pem(new_pem))
                    time.sleep(settle)
                # phase 2: sign with the new key, keep accepting the old one
                relogin = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
                old_token = relogin.json()["access_token"]
                _write_atomically(accepted / "previous.pem", _public_pem(old_pem))
                _write_atomically(signing, new_pem)
                # The first token of the new key must already work on every instance.
                probe = _first_new_key_token(http, email, old_kid=thumbprint_of(old_pem))
                for instance in (a, b):
                    resp = http.get(
                        f"{instance.url}/api/auth/me", headers={"authorization": f"Bearer {probe}"}
                    )
                    if resp.status_code != 200:
                        probe_failures[f"probe {resp.status_code} {_code(resp)}"] += 1
                # A token of the old key, minted just before the switch, still works after it.
                report.old_token_valid_after_switch = all(
                    http.get(
                        f"{instance.url}/api/auth/me",
                        headers={"authorization": f"Bearer {old_token}"},
                    ).status_code
                    == 200
                    for instance in (a, b)
                )
                time.sleep(settle)
                # phase 3: after the last old-key token expired, forget the old key
                time.sleep(ttl + 1.2)
                (accepted / "previous.pem").unlink()
                (accepted / "next.pem").unlink(missing_ok=True)
                time.sleep(settle)
            finally:
                client.stop.set()
                client.join(15)
            kids = [k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]]
    new_kid = str(jwt.get_unverified_header(client.tokens["access_token"]).get("kid"))
    report.requests = client.requests
    report.refreshes = client.refreshes
    failures = client.failures + probe_failures
    report.failures = dict(failures)
    report.failed = sum(failures.values())
    report.kids_seen = len(set(client.kids))
    report.jwks_kids_at_end = len(kids)
    report.final_kid_is_new = kids == [new_kid] and client.kids[0] != new_kid
    report.seconds = round(time.monotonic() - started, 2)
    report.ok = (
        report.failed == 0
        and report.requests > 20
        and report.kids_seen == 2
        and report.old_token_valid_after_switch
        and report.final_kid_is_new
    )
    return report


def prepared_embedded_database(data_dir: Path) -> str:
    return create_scratch_database(start_embedded(data_dir), "drill_keys")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, "key-rotation.json", argv)
    url = args.database_url or prepared_embedded_database(EMBEDDED_DIR)
    with tempfile.TemporaryDirectory(prefix="drill-keys-") as tmp:
        report = run(url, Path(tmp))
    return publish(report, args.report)


if __name__ == "__main__":
    sys.exit(main())
