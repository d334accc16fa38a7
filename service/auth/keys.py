"""RS256 signing keys: loaded from config or generated into .local/ on first run, published as JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from service.core.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublicKey:
    kid: str
    key: rsa.RSAPublicKey

    def jwk(self) -> dict[str, str]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass(frozen=True)
class KeyRing:
    """One signing key plus every public key still accepted (the signing key's and rotated-out ones)."""

    signing_key: rsa.RSAPrivateKey
    signing_kid: str
    public_keys: dict[str, PublicKey]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.jwk() for k in self.public_keys.values()]}


def thumbprint(key: rsa.RSAPublicKey) -> str:
    """RFC 7638 JWK thumbprint, so the kid is stable for a key and changes when it rotates."""
    numbers = key.public_numbers()

    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def generate_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_or_create_signing_pem(settings: Settings) -> bytes:
    configured = settings.jwt_private_key.get_secret_value()
    if configured:
        return configured.encode()
    path = settings.signing_key_path
    if not path.exists():
        if settings.environment in ("staging", "prod"):
            raise RuntimeError("JWT_PRIVATE_KEY must be set outside local environments")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = generate_private_key_pem()
        # O_EXCL: if two processes race on first start, one key wins and the other reads it.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        log.info("generated JWT signing key", extra={"path": str(path)})
        return pem
    return path.read_bytes()


def _load_public(path: Path) -> rsa.RSAPublicKey:
    data = path.read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} is not an RSA key")
    return key


def load_key_ring(settings: Settings) -> KeyRing:
    private = serialization.load_pem_private_key(_load_or_create_signing_pem(settings), None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("JWT signing key must be an RSA private key")
    signing_public = private.public_key()
    kid = thumbprint(signing_public)
    public = {kid: PublicKey(kid, signing_public)}
    for extra in settings.jwt_previous_public_key_files:
        key = _load_public(extra)
        public.setdefault(thumbprint(key), PublicKey(thumbprint(key), key))
    return KeyRing(signing_key=private, signing_kid=kid, public_keys=public)
