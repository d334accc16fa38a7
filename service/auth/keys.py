"""RS256 signing keys: loaded from config or generated into .local/ on first run, published as JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import time
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


def _load_or_create_signing_pem(settings: Settings, create: bool = True) -> bytes:
    configured = settings.auth.jwt_private_key.get_secret_value()
    if configured:
        return configured.encode()
    path = settings.signing_key_path
    if not path.exists() and create:
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


_PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.S)


def _public_keys_from_pem(data: bytes) -> list[rsa.RSAPublicKey]:
    """Accepts public or private PEM blocks (a bundle may hold several)."""
    keys: list[rsa.RSAPublicKey] = []
    for block in _PEM_BLOCK.findall(data):
        if b"PRIVATE KEY" in block:
            key: object = serialization.load_pem_private_key(block, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(block)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("accepted JWT keys must be RSA keys")
        keys.append(key)
    return keys


def _accepted_public_keys(settings: Settings) -> list[rsa.RSAPublicKey]:
    keys = _public_keys_from_pem(settings.auth.jwt_accepted_public_keys.encode())
    directory = settings.accepted_keys_dir
    if directory.is_dir():
        for path in sorted(directory.glob("*.pem")):
            keys.extend(_public_keys_from_pem(path.read_bytes()))
    return keys


def load_key_ring(settings: Settings, create: bool = True) -> KeyRing:
    private = serialization.load_pem_private_key(
        _load_or_create_signing_pem(settings, create), None
    )
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("JWT signing key must be an RSA private key")
    signing_public = private.public_key()
    kid = thumbprint(signing_public)
    public = {kid: PublicKey(kid, signing_public)}
    for key in _accepted_public_keys(settings):
        public.setdefault(thumbprint(key), PublicKey(thumbprint(key), key))
    return KeyRing(signing_key=private, signing_kid=kid, public_keys=public)


class KeyRingSource:
    """The current key ring, re-read when key files change, so rotating keys needs no restart.

    A half-finished rotation on disk (missing or unreadable file) keeps the last good ring.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ring = load_key_ring(settings)
        self._stamp = self._fingerprint()
        self._checked = time.monotonic()

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        paths: list[Path] = []
        if not self.settings.auth.jwt_private_key.get_secret_value():
            paths.append(self.settings.signing_key_path)
        directory = self.settings.accepted_keys_dir
        if directory.is_dir():
            paths.extend(sorted(directory.glob("*.pem")))
        stamp = []
        for path in paths:
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
        return tuple(stamp)

    def current(self) -> KeyRing:
        interval = self.settings.auth.jwt_key_reload_seconds
        if interval and time.monotonic() - self._checked >= interval:
            self._checked = time.monotonic()
            stamp = self._fingerprint()
            if stamp != self._stamp:
                try:
                    self._ring = load_key_ring(self.settings, create=False)
                    self._stamp = stamp
                    log.info("JWT keys reloaded", extra={"kids": sorted(self._ring.public_keys)})
                except (OSError, ValueError) as exc:
                    log.error(
                        "JWT key reload failed; keeping current keys", extra={"error": str(exc)}
                    )
        return self._ring
