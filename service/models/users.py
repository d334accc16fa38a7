from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from service.auth.identity import Role
from service.models.text import Line


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    email: str
    display_name: str
    role: Role
    created_at: datetime


class UserSummary(BaseModel):
    id: UUID
    email: str
    display_name: str


class RegisterRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    display_name: Line = Field(min_length=1, max_length=200)
    role: Literal["teacher", "student", "admin"] = Field(
        description="teacher or student; admin can't be self-registered"
    )
