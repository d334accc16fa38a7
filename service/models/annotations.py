"""Annotations: one typed, bounded content shape per type, chosen by the `type` discriminator.

A drawing may hold 20,000 points, which take about 0.1 s to validate and as long again to
serialise: too long for the event loop. So request bodies are checked in two steps. The body
models here check the envelope (ids, page, type) and take `content` as plain JSON, documented
with its real schema; `check_content` then checks the content against its type's model, and
the routes run it in a worker process when the body is large. Stored content was validated on the way in, so reading it
back doesn't validate it again (PostgreSQL renders it as JSON as it is).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

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
# All drawings on one page of one project together: enough for a densely marked-up page, and a
# bound on what one list page can cost to send.
MAX_POINTS_PER_PAGE = 60_000


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


@dataclass(frozen=True)
class CheckedContent:
    stored: str = ""  # the content as JSON, as it will be stored
    points: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def check_content(type_: str, body: bytes, loc: tuple[str | int, ...]) -> CheckedContent:
    """The request body's `content`, checked against its type's model: the JSON to store and its
    point count, or the validation errors. Pure and picklable: it runs in a worker process for
    large bodies (service/core/offload.py)."""
    try:
        content = CONTENT_MODELS[type_].model_validate(json.loads(body)["content"])
    except ValidationError as exc:
        return CheckedContent(
            errors=[
                {"loc": [*loc, *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors()
            ]
        )
    points = (
        sum(len(s.points) for s in content.strokes) if isinstance(content, DrawingContent) else 0
    )
    return CheckedContent(content.model_dump_json(exclude_none=True), points)


def point_count(type_: str, content: dict[str, Any]) -> int:
    if type_ != "drawing":
        return 0
    return sum(len(stroke.get("points", [])) for stroke in content.get("strokes", []))


class _CreateBase(_Strict):
    project_id: UUID
    page: int = Field(ge=1, le=100_000)


class HighlightCreate(_CreateBase):
    type: Literal["highlight"]
    content: Annotated[
        dict[str, Any],
        WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/HighlightContent"}]}),
    ]  # checked by check_content, off the event loop


class NoteCreate(_CreateBase):
    type: Literal["note"]
    content: Annotated[
        dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/NoteContent"}]})
    ]  # checked by check_content, off the event loop


class DrawingCreate(_CreateBase):
    type: Literal["drawing"]
    content: Annotated[
        dict[str, Any], WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/DrawingContent"}]})
    ]  # checked by check_content, off the event loop


AnnotationCreate = Annotated[
    HighlightCreate | NoteCreate | DrawingCreate, Field(discriminator="type")
]


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
