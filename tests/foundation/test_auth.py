from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization

from service.auth.keys import generate_private_key_pem, load_key_ring
from service.core.config import Settings
from tests.factories import PASSWORD, Accounts, login


def _forge(settings: Settings, sub: str, **overrides: Any) -> str:
    ring = load_key_ring(settings)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.auth.jwt_issuer,
        "aud": settings.auth.jwt_audience,
        "sub": sub,
        "role": "teacher",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    headers = {"kid": ring.signing_kid}
    key: Any = ring.signing_key
    alg = "RS256"
    for k, v in overrides.items():
        if k == "_key":
            key = v
        elif k == "_alg":
            alg = v
        elif k == "_kid":
            headers["kid"] = v
        elif v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def test_register_login_me(client: httpx.Client) -> None:
    r = client.post(
        "/api/auth/register",
        json={
            "email": "Ada@Example.com",
            "password": PASSWORD,
            "display_name": "Ada",
            "role": "teacher",
        },
    )
    assert r.status_code == 201
    assert r.json()["role"] == "teacher"
    assert "password" not in str(r.json())
    acct = login(client, "ada@example.com")  # email is case-insensitive
    me = client.get("/api/auth/me", headers=acct.headers)
    assert me.status_code == 200
    assert me.json()["display_name"] == "Ada"


def test_password_is_stored_as_argon2(client: httpx.Client, accounts: Accounts) -> None:
    acct = accounts.create("student")
    with psycopg.connect(accounts.db_url) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (acct.id,)).fetchone()
    assert row is not None and row[0].startswith("$argon2id$")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"role": "admin"}, 403, "admin_registration_forbidden"),
        ({"role": "superuser"}, 422, "validation_error"),
        ({"password": "short"}, 422, "validation_error"),
        ({"email": "not-an-email"}, 422, "validation_error"),
        ({"display_name": ""}, 422, "validation_error"),
    ],
)
def test_register_rejects_bad_input(
    client: httpx.Client, payload: dict[str, str], status: int, code: str
) -> None:
    body = {"email": "x@example.com", "password": PASSWORD, "display_name": "X", "role": "student"}
    r = client.post("/api/auth/register", json=body | payload)
    assert r.status_code == status
    assert r.json()["error"]["code"] == code


def test_duplicate_email_is_409(client: httpx.Client) -> None:
    body = {
        "email": "dup@example.com",
        "password": PASSWORD,
        "display_name": "D",
        "role": "student",
    }
    assert client.post("/api/auth/register", json=body).status_code == 201
    r = client.post("/api/auth/register", json=body | {"email": "DUP@example.com"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


def test_login_failures_do_not_reveal_which_part_was_wrong(
    client: httpx.Client, accounts: Accounts
) -> None:
    acct = accounts.create("student")
    wrong_pw = client.post(
        "/api/auth/login", json={"email": acct.email, "password": "wrong-password"}
    )
    no_user = client.post(
        "/api/auth/login", json={"email": "ghost@example.com", "password": PASSWORD}
    )
    for r in (wrong_pw, no_user):
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "invalid_credentials"


def test_me_without_token(client: httpx.Client) -> None:
    r = client.get("/api/auth/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated"
    r = client.get("/api/auth/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert r.status_code == 401


def _other_rsa_key() -> Any:
    return serialization.load_pem_private_key(generate_private_key_pem(), None)


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("expired", "token_expired"),
        ("not_yet_valid", "token_not_yet_valid"),
        ("wrong_audience", "token_invalid_audience"),
        ("wrong_issuer", "token_invalid_issuer"),
        ("bad_signature", "token_invalid_signature"),
        ("unknown_kid", "token_invalid_signature"),
        ("alg_none", "token_invalid_algorithm"),
        ("alg_hs256", "token_invalid_algorithm"),
        ("missing_exp", "token_invalid"),
        ("garbage", "token_invalid"),
    ],
)
def test_rejected_access_tokens(
    client: httpx.Client, accounts: Accounts, settings: Settings, case: str, code: str
) -> None:
    acct = accounts.create("teacher")
    now = int(time.time())
    public_pem = (
        load_key_ring(settings)
        .signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    tokens = {
        "expired": lambda: _forge(
            settings, acct.id, iat=now - 7200, nbf=now - 7200, exp=now - 3600
        ),
        "not_yet_valid": lambda: _forge(settings, acct.id, nbf=now + 3600, exp=now + 7200),
        "wrong_audience": lambda: _forge(settings, acct.id, aud="someone-else"),
        "wrong_issuer": lambda: _forge(settings, acct.id, iss="https://evil.example.com"),
        "bad_signature": lambda: _forge(settings, acct.id, _key=_other_rsa_key()),
        "unknown_kid": lambda: _forge(settings, acct.id, _key=_other_rsa_key(), _kid="nope"),
        "alg_none": lambda: jwt.encode({"sub": acct.id}, "", algorithm="none"),
        # Classic key-confusion attack: HMAC keyed with the public key.
        "alg_hs256": lambda: _hs256_with_public_key(public_pem, acct.id, settings),
        "missing_exp": lambda: _forge(settings, acct.id, exp=None),
        "garbage": lambda: "not.a.jwt",
    }
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens[case]()}"})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == code
    assert r.headers["www-authenticate"].startswith("Bearer")


def _hs256_with_public_key(public_pem: bytes, sub: str, settings: Settings) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(
        json.dumps(
            {
                "sub": sub,
                "iss": settings.auth.jwt_issuer,
                "aud": settings.auth.jwt_audience,
                "iat": now,
                "nbf": now,
                "exp": now + 600,
            }
        ).encode()
    )
    sig = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(sig)}"


def test_valid_forged_token_is_accepted(
    client: httpx.Client, accounts: Accounts, settings: Settings
) -> None:
    """Control case: the forging helper itself produces acceptable tokens, so the cases above fail for their reason."""
    acct = accounts.create("teacher")
    r = client.get("/api/auth/me", headers={"Authorization": f"Bearer {_forge(settings, acct.id)}"})
    assert r.status_code == 200


def test_token_of_deleted_user_is_rejected(client: httpx.Client, settings: Settings) -> None:
    r = client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {_forge(settings, str(uuid.uuid4()))}"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "user_not_found"


def test_jwks_verifies_issued_tokens(
    client: httpx.Client, accounts: Accounts, settings: Settings
) -> None:
    acct = accounts.create("student")
    jwks = client.get("/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1 and "d" not in jwks["keys"][0]
    key = jwt.PyJWK(jwks["keys"][0])
    assert jwt.get_unverified_header(acct.access_token)["kid"] == key.key_id
    claims = jwt.decode(
        acct.access_token, key.key, algorithms=["RS256"], audience=settings.auth.jwt_audience
    )
    assert claims["sub"] == acct.id
    assert claims["exp"] - claims["iat"] == 3600


class TestRefreshRotation:
    def test_refresh_rotates(self, client: httpx.Client, accounts: Accounts) -> None:
        acct = accounts.create("student")
        r = client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
        assert r.status_code == 200
        new = r.json()
        assert new["refresh_token"] != acct.refresh_token
        assert new["refresh_expires_in"] == 7 * 24 * 3600
        me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {new['access_token']}"})
        assert me.status_code == 200

    def test_reuse_revokes_the_family(self, client: httpx.Client, accounts: Accounts) -> None:
        acct = accounts.create("student")
        second = client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token}).json()
        # The first token is replayed (stolen): the whole family dies, including the newest token.
        replay = client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "refresh_token_reused"
        after = client.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert after.status_code == 401
        assert after.json()["error"]["code"] == "refresh_token_revoked"

    def test_other_logins_survive_a_reuse(self, client: httpx.Client, accounts: Accounts) -> None:
        acct = accounts.create("student")
        other = login(client, acct.email)
        client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
        client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
        r = client.post("/api/auth/refresh", json={"refresh_token": other.refresh_token})
        assert r.status_code == 200

    def test_expired_refresh_token(self, client: httpx.Client, accounts: Accounts) -> None:
        acct = accounts.create("student")
        with psycopg.connect(accounts.db_url, autocommit=True) as conn:
            conn.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        r = client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "refresh_token_expired"

    def test_unknown_refresh_token(self, client: httpx.Client) -> None:
        r = client.post("/api/auth/refresh", json={"refresh_token": "x" * 64})
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "refresh_token_invalid"

    def test_logout_revokes(self, client: httpx.Client, accounts: Accounts) -> None:
        acct = accounts.create("student")
        assert (
            client.post("/api/auth/logout", json={"refresh_token": acct.refresh_token}).status_code
            == 204
        )
        r = client.post("/api/auth/refresh", json={"refresh_token": acct.refresh_token})
        assert r.json()["error"]["code"] == "refresh_token_revoked"

    def test_concurrent_refresh_only_one_wins(
        self, client: httpx.Client, accounts: Accounts
    ) -> None:
        from concurrent.futures import ThreadPoolExecutor

        acct = accounts.create("student")
        url = str(client.base_url)

        def go(_: int) -> int:
            return httpx.post(
                f"{url}/api/auth/refresh", json={"refresh_token": acct.refresh_token}
            ).status_code

        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(go, range(4)))
        assert codes.count(200) == 1, codes
