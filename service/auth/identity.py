"""What a verified bearer token tells us about the caller, independent of the auth provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["teacher", "student", "admin"]
ROLES: tuple[Role, ...] = ("teacher", "student", "admin")


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    email: str | None
    role: Role | None
    provider: Literal["local", "supabase"]
