"""The `supabase` provider: Supabase signs the tokens; we check them against its JWKS."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt

from service.auth.identity import ROLES, Role, TokenClaims
from service.auth.token_errors import from_jwt_exception, token_error
from service.core.config import Settings
from service.core.exceptions import Unavailable


def map_role(claims: dict[str, Any]) -> Role | None:
    """App role comes from server-controlled claims only (app_metadata, or a hook-set `role`).

    `user_metadata` is writable by the user, so it is never trusted for the role.
    """
    app_meta = claims.get("app_metadata") or {}
    for candidate in (app_meta.get("role"), claims.get("role")):
        if candidate in ROLES:
            return candidate
    return None


class SupabaseTokenVerifier:
    def __init__(self, settings: Settings, jwks_client: jwt.PyJWKClient | None = None) -> None:
        if not settings.auth.supabase_jwks_url:
            raise RuntimeError("AUTH_PROVIDER=supabase needs SUPABASE_JWKS_URL")
        self.settings = settings
        self.jwks = jwks_client or jwt.PyJWKClient(
            settings.auth.supabase_jwks_url, cache_keys=True, lifespan=600, timeout=5
        )

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256":
                raise token_error(
                    "token_invalid_algorithm", "The access token uses a disallowed algorithm."
                )
            signing_key = self.jwks.get_signing_key_from_jwt(token)
            return jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                audience=self.settings.auth.supabase_audience,
                issuer=self.settings.auth.supabase_issuer or None,
                leeway=self.settings.auth.jwt_leeway_seconds,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            raise Unavailable(
                "auth_provider_unavailable", "The identity provider's keys are unreachable."
            ) from exc
        except jwt.PyJWKClientError as exc:
            raise token_error(
                "token_invalid_signature", "The access token was signed by an unknown key."
            ) from exc
        except jwt.PyJWTError as exc:
            raise from_jwt_exception(exc) from exc

    async def verify(self, token: str) -> TokenClaims:
        claims = await asyncio.to_thread(self._decode, token)  # JWKS fetches block
        return TokenClaims(
            subject=str(claims["sub"]),
            email=claims.get("email"),
            role=map_role(claims),
            provider="supabase",
        )
