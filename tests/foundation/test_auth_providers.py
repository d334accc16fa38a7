"""The supabase provider against a real JWKS endpoint over HTTP, and JWT key rotation."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from service.app import create_app
from service.auth.keys import PublicKey, generate_private_key_pem, thumbprint
from service.core.config import Settings
from tests.conftest import LiveServer, make_settings

ISSUER = "https://project-ref.supabase.co/auth/v1"


class JwksServer:
    """Serves a JWKS document over real HTTP, as Supabase's /auth/v1/.well-known/jwks.json does."""

    def __init__(self) -> None:
        self.private = serialization.load_pem_private_key(generate_private_key_pem(), None)
        self.kid = thumbprint(self.private.public_key())  # type: ignore[arg-type]
        doc = json.dumps({"keys": [PublicKey(self.kid, self.private.public_key()).jwk()]}).encode()  # type: ignore[arg-type]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(doc)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        base = {
            "iss": ISSUER,
            "aud": "authenticated",
            "sub": "5f1c6a62-2f4a-4a0e-9d5e-7a3f1b2c9d10",
            "email": "sb-user@example.com",
            "role": "authenticated",
            "app_metadata": {"provider": "email", "role": "teacher"},
            "user_metadata": {"role": "admin"},
            "iat": now,
            "exp": now + 600,
        }
        base.update(claims)
        return jwt.encode(base, self.private, algorithm="RS256", headers={"kid": self.kid})  # type: ignore[arg-type]


@pytest.fixture
def supabase_api(clean_db: str, tmp_path: Path) -> Iterator[tuple[str, JwksServer]]:
    jwks = JwksServer()
    settings = make_settings(
        clean_db,
        tmp_path,
        auth_provider="supabase",
        supabase_jwks_url=jwks.url,
        supabase_issuer=ISSUER,
    )
    with LiveServer(create_app(settings)) as srv:
        yield srv.url, jwks
    jwks.httpd.shutdown()


def test_supabase_token_maps_claims_and_provisions_user(
    supabase_api: tuple[str, JwksServer],
) -> None:
    url, jwks = supabase_api
    r = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {jwks.token()}"})
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["email"] == "sb-user@example.com"
    # Role from app_metadata; the user-editable user_metadata "admin" is ignored.
    assert me["role"] == "teacher"
    again = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {jwks.token()}"})
    assert again.json()["id"] == me["id"]


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "anon"}, "token_invalid_audience"),
        ({"iss": "https://other.supabase.co/auth/v1"}, "token_invalid_issuer"),
        ({"exp": int(time.time()) - 3600}, "token_expired"),
        ({"nbf": int(time.time()) + 3600}, "token_not_yet_valid"),
    ],
)
def test_supabase_rejections(
    supabase_api: tuple[str, JwksServer], claims: dict[str, Any], code: str
) -> None:
    url, jwks = supabase_api
    r = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {jwks.token(**claims)}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == code


def test_supabase_rejects_foreign_key_and_hs256(supabase_api: tuple[str, JwksServer]) -> None:
    url, jwks = supabase_api
    impostor = JwksServer()
    impostor.kid = jwks.kid  # same kid, different key: the signature must fail
    forged = impostor.token()
    r = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.json()["error"]["code"] == "token_invalid_signature"
    hs = jwt.encode(
        {"sub": "x", "aud": "authenticated", "exp": int(time.time()) + 60},
        "secret",
        algorithm="HS256",
    )
    r = httpx.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {hs}"})
    assert r.json()["error"]["code"] == "token_invalid_algorithm"
    impostor.httpd.shutdown()


def test_supabase_mode_has_no_local_accounts(supabase_api: tuple[str, JwksServer]) -> None:
    url, _ = supabase_api
    r = httpx.post(
        f"{url}/api/auth/login", json={"email": "a@example.com", "password": "whatever1"}
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "unsupported_for_auth_provider"
    assert httpx.get(f"{url}/.well-known/jwks.json").status_code == 404


def test_key_rotation_accepts_previous_key(clean_db: str, tmp_path: Path) -> None:
    """Old tokens stay valid while the previous public key is accepted, then stop."""
    old_key = tmp_path / "old.pem"
    old_key.write_bytes(generate_private_key_pem())
    new_key = tmp_path / "new.pem"
    new_key.write_bytes(generate_private_key_pem())
    old_public = serialization.load_pem_private_key(old_key.read_bytes(), None).public_key()
    old_public_pem = old_public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()

    def app_with(**overrides: Any) -> Settings:
        return make_settings(clean_db, tmp_path, **overrides)

    with LiveServer(create_app(app_with(jwt_private_key_file=old_key))) as old:
        httpx.post(
            f"{old.url}/api/auth/register",
            json={
                "email": "rot@example.com",
                "password": "correct horse",
                "display_name": "R",
                "role": "student",
            },
        )
        token = httpx.post(
            f"{old.url}/api/auth/login",
            json={"email": "rot@example.com", "password": "correct horse"},
        ).json()["access_token"]

    rotated = app_with(jwt_private_key_file=new_key, jwt_accepted_public_keys=old_public_pem)
    with LiveServer(create_app(rotated)) as srv:
        assert (
            httpx.get(
                f"{srv.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )
        kids = {k["kid"] for k in httpx.get(f"{srv.url}/.well-known/jwks.json").json()["keys"]}
        assert len(kids) == 2

    with LiveServer(create_app(app_with(jwt_private_key_file=new_key))) as srv:
        r = httpx.get(f"{srv.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


def test_key_files_reload_without_restart(clean_db: str, tmp_path: Path) -> None:
    """Rotation on disk: accept the next key, sign with it, drop the old one; one running process."""
    keys = tmp_path / "keys"
    accepted = keys / "accepted"
    accepted.mkdir(parents=True)
    signing = keys / "jwt-signing.pem"
    signing.write_bytes(generate_private_key_pem())
    settings = make_settings(
        clean_db,
        tmp_path,
        jwt_private_key_file=signing,
        jwt_accepted_keys_dir=accepted,
        jwt_key_reload_seconds=0.05,
    )
    with LiveServer(create_app(settings)) as srv:
        httpx.post(
            f"{srv.url}/api/auth/register",
            json={
                "email": "hot@example.com",
                "password": "correct horse",
                "display_name": "H",
                "role": "student",
            },
        )

        def login() -> str:
            r = httpx.post(
                f"{srv.url}/api/auth/login",
                json={"email": "hot@example.com", "password": "correct horse"},
            )
            return str(r.json()["access_token"])

        def kid_of(token: str) -> str:
            return str(jwt.get_unverified_header(token)["kid"])

        old_token = login()
        (accepted / "previous.pem").write_bytes(signing.read_bytes())
        signing.write_bytes(generate_private_key_pem())
        time.sleep(0.2)
        new_token = login()
        assert kid_of(new_token) != kid_of(old_token)
        for tok in (old_token, new_token):
            assert (
                httpx.get(
                    f"{srv.url}/api/auth/me", headers={"Authorization": f"Bearer {tok}"}
                ).status_code
                == 200
            )
        (accepted / "previous.pem").unlink()
        time.sleep(0.2)
        assert (
            httpx.get(
                f"{srv.url}/api/auth/me", headers={"Authorization": f"Bearer {old_token}"}
            ).status_code
            == 401
        )
        assert (
            httpx.get(
                f"{srv.url}/api/auth/me", headers={"Authorization": f"Bearer {new_token}"}
            ).status_code
            == 200
        )
