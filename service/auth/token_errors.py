"""Maps PyJWT's exceptions to stable error codes that clients can act on."""

from __future__ import annotations

import jwt

from service.core.exceptions import Unauthenticated

_CHALLENGE = 'Bearer error="invalid_token"'


def token_error(code: str, message: str) -> Unauthenticated:
    return Unauthenticated(code, message, challenge=_CHALLENGE)


def from_jwt_exception(exc: jwt.PyJWTError) -> Unauthenticated:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return token_error("token_expired", "The access token has expired.")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return token_error("token_not_yet_valid", "The access token is not valid yet.")
    if isinstance(exc, jwt.InvalidAudienceError):
        return token_error("token_invalid_audience", "The access token has the wrong audience.")
    if isinstance(exc, jwt.InvalidIssuerError):
        return token_error("token_invalid_issuer", "The access token has the wrong issuer.")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return token_error(
            "token_invalid_algorithm", "The access token uses a disallowed algorithm."
        )
    if isinstance(exc, jwt.InvalidSignatureError):
        return token_error("token_invalid_signature", "The access token signature is invalid.")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return token_error("token_invalid", f"The access token lacks the '{exc.claim}' claim.")
    return token_error("token_invalid", "The access token is malformed.")
