"""Personal API keys: what a client sends to create one and what it gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from service.models.text import Line


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Line = Field(min_length=1, max_length=100, description="What the key is for")
    scope: Literal["read", "write"] = Field(
        default="read", description="read: GET and HEAD only; write: whatever the user may do"
    )


class ApiKey(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    scope: Literal["read", "write"]
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="The key itself. Shown this once; only its hash is stored.")
