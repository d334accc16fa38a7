"""The practice context: what the tutor and the feedback fit their advice to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

ExperienceLevel = Literal["beginner", "intermediate", "advanced", "professional"]
PieceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PracticeContextIn(BaseModel):
    """PUT replaces the whole context; a field left out goes back to its default."""

    model_config = ConfigDict(extra="forbid")
    goals: str = Field(default="", max_length=500)
    constraints: str = Field(default="", max_length=500)
    repertoire: list[PieceName] = Field(default_factory=list, max_length=50)
    experience_level: ExperienceLevel | None = Field(default=None, description="null: not stated")
    practice_minutes_per_day: StrictInt | None = Field(default=None, ge=0, le=600)


class PracticeContext(PracticeContextIn):
    model_config = ConfigDict(extra="forbid")
    user_id: UUID
    updated_at: datetime | None = Field(
        description="null: never saved; the other fields are the defaults"
    )
