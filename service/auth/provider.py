"""Chooses the token verifier from AUTH_PROVIDER and holds the objects the auth routes need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.auth.identity import TokenClaims
from service.auth.keys import KeyRingSource
from service.auth.local_tokens import LocalTokenService
from service.auth.sessions import AuthSessions
from service.auth.supabase import SupabaseTokenVerifier
from service.core.config import Settings


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> TokenClaims: ...


@dataclass
class AuthContext:
    provider: str
    verifier: TokenVerifier
    keys: KeyRingSource | None = None
    sessions: AuthSessions | None = None


def build_auth(settings: Settings) -> AuthContext:
    if settings.auth_provider == "supabase":
        return AuthContext(provider="supabase", verifier=SupabaseTokenVerifier(settings))
    keys = KeyRingSource(settings)
    tokens = LocalTokenService(settings, keys)
    return AuthContext(provider="local", verifier=tokens, keys=keys, sessions=AuthSessions(tokens))
