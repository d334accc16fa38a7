"""The practice feedback report (POST /api/v1/feedback/{recording_id})."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["HIGH", "MEDIUM", "LOW"]


class FeedbackQuery(BaseModel):
    """Every parameter is checked: an unknown or malformed one is a 422, never ignored."""

    model_config = ConfigDict(extra="forbid")
    refresh: bool = Field(
        default=False,
        description="Write the report again even if a stored one is still fresh (the "
        "recording's owner only)",
    )


class Observation(BaseModel):
    dimension: str = Field(description="The analysis dimension, e.g. timing_stable_unstable")
    label: str = Field(description="What it is called for a student, e.g. 'steady timing'")
    score: float = Field(description="The recording's score on the dimension, 0..1")
    finding: str
    segments: list[str] = Field(
        description='Where it shows, as segment labels ("0:30-0:33"), worst first for focus areas'
    )
    citations: list[int] = Field(
        default_factory=list, description="Numbers (`n`) of the citations that support it"
    )


class PlanItem(BaseModel):
    title: str
    minutes: int
    instructions: str
    dimension: str | None = Field(description="The focus area it works on (null: general)")
    citations: list[int] = Field(default_factory=list)


class PracticePlan(BaseModel):
    minutes_per_day: int = Field(description="What the items add up to")
    minutes_assumed: bool = Field(
        description="true: the student's practice context doesn't state a daily time, so "
        "FEEDBACK_DEFAULT_PRACTICE_MINUTES was used"
    )
    level: str | None = Field(description="The level the plan is pitched to (null: not stated)")
    adapted_for: list[str] = Field(description="The constraints the plan was adapted to")
    items: list[PlanItem]


class Citation(BaseModel):
    n: int
    document_id: UUID
    title: str
    page: int | None = Field(description="The page, for paged documents (PDFs)")
    pages: dict[str, int] | None
    section: str | None = Field(default=None, description="The section, where the source has them")
    url: str
    quote: str = Field(description="The passage's sentences that match the search, verbatim")
    supports: list[str] = Field(description="The dimensions whose advice it supports")
    query: str = Field(description="The knowledge search that found it")
    similarity: float


class Confidence(BaseModel):
    level: Level = Field(description="The lower of `analysis` and `evidence`")
    analysis: Level = Field(description="How much the analysis had to go on (notes, duration)")
    evidence: Level = Field(description="How well the knowledge base answered the focus areas")
    reasons: list[str]


class Versions(BaseModel):
    analyzer: str
    analyzer_version: str
    analysis_created_at: datetime
    report_format: str
    writer: Literal["template", "llm"]
    provider: str = Field(description="`template`, or the LLM provider that wrote the prose")
    model: str | None = Field(description="The LLM model (null for the template)")


class Fallback(BaseModel):
    provider: str
    reason: str


class FeedbackReport(BaseModel):
    recording_id: UUID
    user_id: UUID = Field(description="The recording's owner")
    generated_at: datetime
    cached: bool = Field(default=False, description="true: the stored report was returned")
    fresh_until: datetime = Field(description="After this, a POST writes the report again")
    notice: str = Field(description="How the report was written (template or model)")
    summary: str
    strengths: list[Observation]
    focus_areas: list[Observation]
    practice_plan: PracticePlan
    citations: list[Citation]
    not_measured: list[str] = Field(description="Dimensions the analyser could not score")
    confidence: Confidence
    versions: Versions
    fallback: Fallback | None = Field(
        default=None, description="Set when the LLM failed and the template was used instead"
    )
