"""Annotations: one typed, bounded content shape per type, chosen by the `type` discriminator."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from service.models.text import FreeText

AnnotationType = Literal["highlight", "note", "drawing"]

# Page coordinates are PDF points from the page's top-left; 14,400 pt (200 in) is PDF's own limit.
Coord = Annotated[float, Field(ge=0, le=14_400, allow_inf_nan=False)]
Length = Annotated[float, Field(gt=0, le=14_400, allow_inf_nan=False)]
Colour = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$", examples=["#ffd54f"])]

MAX_NOTE_CHARS = 5000
MAX_RECTS = 200
MAX_STROKES = 200
MAX_POINTS_PER_STROKE = 2000
MAX_POINTS_TOTAL = 20_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Point(_Strict):
    x: Coord
    y: Coord


class Rect(_Strict):
    x: Coord
    y: Coord
    width: Length
    height: Length


class HighlightContent(_Strict):
    rects: list[Rect] = Field(min_length=1, max_length=MAX_RECTS)
    color: Colour


class NoteContent(_Strict):
    text: FreeText = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    position: Point
    color: Colour | None = None


class Stroke(_Strict):
    points: list[Point] = Field(min_length=1, max_length=MAX_POINTS_PER_STROKE)
    width: float = Field(gt=0, le=100, allow_inf_nan=False)
    color: Colour


class DrawingContent(_Strict):
    strokes: list[Stroke] = Field(min_length=1, max_length=MAX_STROKES)

    @model_validator(mode="after")
    def _bounded_total(self) -> DrawingContent:
        total = sum(len(s.points) for s in self.strokes)
        if total > MAX_POINTS_TOTAL:
            raise ValueError(f"a drawing may have at most {MAX_POINTS_TOTAL} points, got {total}")
        return self


AnnotationContent = HighlightContent | NoteContent | DrawingContent
CONTENT_MODELS: dict[str, type[HighlightContent | NoteContent | DrawingContent]] = {
    "highlight": HighlightContent,
    "note": NoteContent,
    "drawing": DrawingContent,
}


class _CreateBase(_Strict):
    project_id: UUID
    page: int = Field(ge=1, le=100_000)


class HighlightCreate(_CreateBase):
    type: Literal["highlight"]
    content: HighlightContent


class NoteCreate(_CreateBase):
    type: Literal["note"]
    content: NoteContent


class DrawingCreate(_CreateBase):
    type: Literal["drawing"]
    content: DrawingContent


AnnotationCreate = Annotated[
    HighlightCreate | NoteCreate | DrawingCreate, Field(discriminator="type")
]
annotation_create_adapter: TypeAdapter[HighlightCreate | NoteCreate | DrawingCreate] = TypeAdapter(
    AnnotationCreate
)


class AnnotationUpdate(_Strict):
    """Content is checked against the annotation's existing type (the type can't change)."""

    page: int | None = Field(default=None, ge=1, le=100_000)
    content: dict | None = None


class Annotation(BaseModel):
    id: UUID
    project_id: UUID
    author_id: UUID
    page: int
    type: AnnotationType
    content: HighlightContent | NoteContent | DrawingContent
    created_at: datetime
    updated_at: datetime
