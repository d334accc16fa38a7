"""Login and refresh-token rotation for the `local` provider.

Refresh tokens are opaque random strings; only their SHA-256 is stored. Each refresh marks the presented
token used and issues a successor in the same family. Presenting a used token means it leaked (or the
client replayed it), so the whole family is revoked and the user must log in again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from service.auth.local_tokens import LocalTokenService
from service.auth.passwords import hash_password, needs_rehash, verify_password
from service.core.db import Conn
from service.core.exceptions import Forbidden, Unauthenticated
from service.models.auth import TokenPair
from service.models.users import UserPublic
from service.repositories import refresh_tokens, users
from service.repositories.users import UserRow

log = logging.getLogger(__name__)


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AuthSessions:
    def __init__(self, tokens: LocalTokenService) -> None:
        self.tokens = tokens
        self.refresh_ttl = tokens.settings.auth.refresh_token_ttl_seconds

    async def _issue(
        self, conn: Conn, user: UserRow, family_id: uuid.UUID
    ) -> tuple[TokenPair, uuid.UUID]:
        access, ttl = self.tokens.issue_access_token(str(user.id), user.email, user.role)
        refresh = secrets.token_urlsafe(48)
        expires = datetime.now(UTC) + timedelta(seconds=self.refresh_ttl)
        token_id = await refresh_tokens.insert(
            conn,
            user_id=user.id,
            family_id=family_id,
            token_hash=_hash(refresh),
            expires_at=expires,
        )
        pair = TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=ttl,
            refresh_expires_in=self.refresh_ttl,
            user=UserPublic.model_validate(user),
        )
        return pair, token_id

    async def login(self, conn: Conn, email: str, password: str) -> TokenPair:
        user = await users.get_by_email(conn, email)
        # argon2 is ~tens of ms of CPU by design: off the event loop, or every login stalls all
        # other requests (found by the load test: API P99 jumped during user ramps).
        stored = user.password_hash if user else None
        verified = await asyncio.to_thread(verify_password, stored, password)
        if not verified or user is None or stored is None:
            raise Unauthenticated("invalid_credentials", "Email or password is incorrect.")
        if not user.is_active:
            raise Forbidden("account_disabled", "This account is disabled.")
        async with conn.transaction():
            if needs_rehash(stored):
                new_hash = await asyncio.to_thread(hash_password, password)
                await users.update_password_hash(conn, str(user.id), new_hash)
            pair, _ = await self._issue(conn, user, uuid.uuid4())
        return pair

    async def refresh(self, conn: Conn, presented: str) -> TokenPair:
        reuse_detected = False
        async with conn.transaction():
            row = await refresh_tokens.lock_by_hash(conn, _hash(presented))
            if row is None:
                raise Unauthenticated(
                    "refresh_token_invalid", "The refresh token is not recognised."
                )
            if row.revoked_at is not None:
                raise Unauthenticated(
                    "refresh_token_revoked", "The refresh token has been revoked."
                )
            if row.used_at is not None:
                revoked = await refresh_tokens.revoke_family(conn, row.family_id)
                log.warning(
                    "refresh token reuse; family revoked",
                    extra={"family_id": str(row.family_id), "revoked": revoked},
                )
                reuse_detected = True
            elif row.expires_at <= row.db_now:
                raise Unauthenticated("refresh_token_expired", "The refresh token has expired.")
            else:
                user = await users.get_by_id(conn, str(row.user_id))
                if user is None or not user.is_active:
                    raise Unauthenticated("refresh_token_invalid", "The account no longer exists.")
                pair, new_id = await self._issue(conn, user, row.family_id)
                await refresh_tokens.mark_used(conn, row.id, new_id)
                return pair
        # Raised after commit so the family revocation is kept.
        assert reuse_detected
        raise Unauthenticated(
            "refresh_token_reused",
            "The refresh token was already used; all sessions from it are revoked.",
        )

    async def logout(self, conn: Conn, presented: str) -> None:
        async with conn.transaction():
            row = await refresh_tokens.lock_by_hash(conn, _hash(presented))
            if row is not None:
                await refresh_tokens.revoke_family(conn, row.family_id)
