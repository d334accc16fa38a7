"""The `local` provider: we sign RS256 access tokens ourselves and verify them by kid."""

from __future__ import annotations

import time
import uuid

import jwt

from service.auth.identity import ROLES, TokenClaims
from service.auth.keys import KeyRingSource
from service.auth.token_errors import from_jwt_exception, token_error
from service.core.config import Settings

ALGORITHM = "RS256"
_REQUIRED = ["exp", "iat", "nbf", "sub", "iss", "aud"]


class LocalTokenService:
    def __init__(self, settings: Settings, keys: KeyRingSource) -> None:
        self.settings = settings
        self.keys = keys

    def issue_access_token(self, user_id: str, email: str, role: str) -> tuple[str, int]:
        now = int(time.time())
        ttl = self.settings.auth.access_token_ttl_seconds
        claims = {
            "iss": self.settings.auth.jwt_issuer,
            "aud": self.settings.auth.jwt_audience,
            "sub": user_id,
            "email": email,
            "role": role,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        ring = self.keys.current()
        token = jwt.encode(
            claims, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.signing_kid}
        )
        return token, ttl

    async def verify(self, token: str) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise from_jwt_exception(exc) from exc
        if header.get("alg") != ALGORITHM:
            raise token_error(
                "token_invalid_algorithm", "The access token uses a disallowed algorithm."
            )
        public = self.keys.current().public_keys.get(str(header.get("kid")))
        if public is None:
            raise token_error(
                "token_invalid_signature", "The access token was signed by an unknown key."
            )
        try:
            claims = jwt.decode(
                token,
                public.key,
                algorithms=[ALGORITHM],
                audience=self.settings.auth.jwt_audience,
                issuer=self.settings.auth.jwt_issuer,
                leeway=self.settings.auth.jwt_leeway_seconds,
                options={"require": _REQUIRED},
            )
        except jwt.PyJWTError as exc:
            raise from_jwt_exception(exc) from exc
        role = claims.get("role")
        return TokenClaims(
            subject=str(claims["sub"]),
            email=claims.get("email"),
            role=role if role in ROLES else None,
            provider="local",
        )
