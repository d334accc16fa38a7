"""The authenticated caller as the domain sees it, whichever provider verified the token."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from service.auth.identity import Role


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
