from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, EmailStr, model_validator

from service.models.users import UserSummary


class RelationshipCreate(BaseModel):
    """Identify the student by id or email; teachers may omit teacher_id (it defaults to themselves)."""

    student_id: UUID | None = None
    student_email: EmailStr | None = None
    teacher_id: UUID | None = None

    @model_validator(mode="after")
    def _one_student(self) -> RelationshipCreate:
        if (self.student_id is None) == (self.student_email is None):
            raise ValueError("give exactly one of student_id or student_email")
        return self


class Relationship(BaseModel):
    id: UUID
    teacher: UserSummary
    student: UserSummary
    created_at: datetime


class LinkRequestCreate(BaseModel):
    student_email: EmailStr


class LinkRequest(BaseModel):
    """A teacher's request to link a student, addressed to an email."""

    id: UUID
    teacher: UserSummary
    student_email: str
    status: Literal["pending", "accepted", "declined", "cancelled"]
    created_at: datetime
    responded_at: datetime | None
    relationship_id: UUID | None
