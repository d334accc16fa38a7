"""Personal API keys for scripts (`X-API-Key`): minted, shown once, stored as a SHA-256.

A key is `pk_` + 43 URL-safe characters (256 random bits). It acts as its user (same rights,
same rate limits) within its scope: `read` keys may only use GET and HEAD; `write` keys may do
what the user may. Keys can't create or revoke keys: that takes a signed-in session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from service.auth.user import User
from service.core.db import Conn
from service.core.exceptions import Forbidden, Unauthenticated
from service.repositories import api_keys

KEY_PREFIX = "pk_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class MintedKey:
    key: str  # the only time it exists in clear
    prefix: str  # shown in lists, so people can tell their keys apart
    key_hash: bytes


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def mint() -> MintedKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return MintedKey(key=key, prefix=key[: len(KEY_PREFIX) + 6], key_hash=key_hash(key))


async def authenticate(conn: Conn, presented: str, method: str) -> User:
    owner = await api_keys.owner_of(conn, key_hash(presented)) if presented else None
    if owner is None:
        raise Unauthenticated("api_key_invalid", "The API key is not recognised or was revoked.")
    if not owner.is_active:
        raise Forbidden("account_disabled", "This account is disabled.")
    if owner.scope == "read" and method.upper() not in SAFE_METHODS:
        raise Forbidden("api_key_read_only", "This API key is read-only (GET and HEAD).")
    if owner.stale:
        await api_keys.touch(conn, owner.key_id)
    return User(
        id=owner.user_id,
        email=owner.email,
        display_name=owner.display_name,
        role=owner.role,  # type: ignore[arg-type]
        api_key_id=owner.key_id,
        api_key_scope=owner.scope,
    )


def require_session(user: User) -> None:
    """Managing keys needs the person, not a script holding one of their keys."""
    if user.api_key_id is not None:
        raise Forbidden("session_required", "API keys can't manage API keys; sign in instead.")
