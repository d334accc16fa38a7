"""Chooses the token verifier from AUTH_PROVIDER and turns a bearer token into the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from service.auth.identity import TokenClaims
from service.auth.keys import KeyRingSource
from service.auth.local_tokens import LocalTokenService
from service.auth.sessions import AuthSessions
from service.auth.supabase import SupabaseTokenVerifier
from service.auth.user import User
from service.core.config import Settings
from service.core.db import Conn, Statement, run
from service.core.exceptions import Forbidden, Unauthenticated
from service.repositories import users
from service.repositories.users import UserRow


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> TokenClaims: ...


@dataclass
class AuthContext:
    provider: str
    verifier: TokenVerifier
    keys: KeyRingSource | None = None
    sessions: AuthSessions | None = None

    async def user_for(self, conn: Conn, claims: TokenClaims) -> User:
        """The active user verified claims name; IdP users get their row on first sight."""
        if claims.provider == "supabase":
            if not claims.email:
                raise Unauthenticated("token_invalid", "The access token has no email claim.")
            row = await users.upsert_external(
                conn, subject=claims.subject, email=claims.email, role=claims.role
            )
            return self.admit(row)
        user_id = self.named_user(claims)
        return self.admit(
            None if user_id is None else await run(conn, self.user_statement(user_id))
        )

    @staticmethod
    def user_statement(user_id: UUID) -> Statement[UserRow | None]:
        """The read `admit` judges, for a user a token names outright (`named_user`)."""
        return users.by_id(str(user_id))

    @staticmethod
    def named_user(claims: TokenClaims) -> UUID | None:
        """The user id a token names outright (our own tokens), so the user can be read beside
        other statements; None for an IdP's tokens, whose row is found by subject."""
        if claims.provider != "local":
            return None
        try:
            return UUID(claims.subject)
        except ValueError:
            return None

    @staticmethod
    def admit(row: UserRow | None) -> User:
        """The caller a token's user row makes: it must exist and be active."""
        if row is None:
            raise Unauthenticated("user_not_found", "The token's user no longer exists.")
        if not row.is_active:
            raise Forbidden("account_disabled", "This account is disabled.")
        return User(id=row.id, email=row.email, display_name=row.display_name, role=row.role)


def build_auth(settings: Settings) -> AuthContext:
    if settings.auth.provider == "supabase":
        return AuthContext(provider="supabase", verifier=SupabaseTokenVerifier(settings))
    keys = KeyRingSource(settings)
    tokens = LocalTokenService(settings, keys)
    return AuthContext(provider="local", verifier=tokens, keys=keys, sessions=AuthSessions(tokens))
