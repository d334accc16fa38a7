"""The authenticated caller as the domain sees it, whichever provider verified the token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from service.auth.identity import Role


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str
    role: Role
    # Set when the caller authenticated with a personal API key rather than a session token.
    api_key_id: UUID | None = None
    api_key_scope: Literal["read", "write"] | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
