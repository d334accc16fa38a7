"""Shapes of the admin endpoints: the audit log, publication reviews and role changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from service.auth.identity import Role


class AuditEntry(BaseModel):
    """One audit_log row, as stored and as returned."""

    id: int
    at: datetime
    actor_id: UUID | None
    actor_email: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    request_id: str | None
    client_ip: str | None


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
