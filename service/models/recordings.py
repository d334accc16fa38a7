"""Request and response shapes of the recordings API (/api/v1)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.recordings.formats import FORMATS
from service.repositories.recordings import (
    AnalysisRow,
    RecordingRow,
    RecordingStatus,
    SortKey,
    SortOrder,
)


class UploadAccepted(BaseModel):
    id: UUID
    status: Literal["uploaded"] = "uploaded"
    message: str = "Recording uploaded successfully"
    original_filename: str
    format: str = Field(description="wav, mp3 or m4a, decided by the file's first bytes")
    size_bytes: int
    duration_seconds: float
    sample_rate: int
    channels: int


class RecordingError(BaseModel):
    code: str
    message: str


class Recording(BaseModel):
    id: UUID
    user_id: UUID
    original_filename: str
    format: str
    content_type: str
    codec: str
    size_bytes: int
    sha256: str
    duration_seconds: float
    sample_rate: int
    channels: int
    status: RecordingStatus = Field(
        description="uploaded (queued) -> analyzing -> completed | failed"
    )
    error: RecordingError | None = Field(description="Why the analysis failed (status failed)")
    analysis_started_at: datetime | None
    analysis_finished_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RecordingRow) -> Recording:
        error = None
        if row.status == "failed":
            error = RecordingError(
                code=row.error_code or "analysis_failed",
                message=row.error_message or "The analysis failed.",
            )
        return cls(
            id=row.id,
            user_id=row.user_id,
            original_filename=row.original_filename,
            format=row.format,
            content_type=FORMATS[row.format].content_type,
            codec=row.codec,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            duration_seconds=row.duration_seconds,
            sample_rate=row.sample_rate,
            channels=row.channels,
            status=row.status,
            error=error,
            analysis_started_at=row.analysis_started_at,
            analysis_finished_at=row.analysis_finished_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class RecordingDetail(Recording):
    download_url: str = Field(description="Short-lived presigned GET URL of the audio")
    download_expires_at: datetime
    analysis_url: str | None = Field(description="Where the completed analysis is read")


class RecordingPage(BaseModel):
    items: list[Recording]
    total: int
    page: int
    limit: int


class RecordingListQuery(BaseModel):
    """Every parameter is checked: an unknown or malformed one is a 422, never ignored."""

    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100_000)
    limit: int = Field(default=20, ge=1, le=100)
    status: RecordingStatus | None = None
    date_from: date | None = Field(default=None, description="ISO-8601 date (UTC), inclusive")
    date_to: date | None = Field(default=None, description="ISO-8601 date (UTC), inclusive")
    sort_by: SortKey = "created_at"
    order: SortOrder = "desc"
    user_id: UUID | None = Field(
        None, description="Only this user's recordings (a teacher: one of their students)"
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> RecordingListQuery:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from is after date_to")
        return self


class AnalysisRequested(BaseModel):
    id: UUID
    status: RecordingStatus
    message: str = "Analysis queued"


class AnalyzerInfo(BaseModel):
    name: str
    version: str


class ScoreDefinition(BaseModel):
    """What one number means: its unit, range and how it is computed."""

    kind: Literal["dimension", "measurement"]
    unit: str
    range: list[float | None] | None
    computation: str | None = Field(description="null: this analyser doesn't measure it")
    low: str | None = None
    high: str | None = None
    reason: str | None = None
    labels: list[str] | None = None


class AnalysisSegment(BaseModel):
    label: str = Field(description='"0:00-0:03"')
    start_seconds: float
    end_seconds: float
    scores: dict[str, float | None]
    reasons: dict[str, str]
    measurements: dict[str, float | str | None]


class Analysis(BaseModel):
    recording_id: UUID
    status: Literal["completed"] = "completed"
    analyzer: AnalyzerInfo
    created_at: datetime
    duration_seconds: float
    segment_seconds: float
    scores: dict[str, float | None] = Field(
        description="Every dimension in [0, 1] (0 = its first pole), or null with a reason"
    )
    reasons: dict[str, str]
    measurements: dict[str, float | str | None]
    segments: list[AnalysisSegment]
    definitions: dict[str, ScoreDefinition]

    @classmethod
    def of(cls, row: AnalysisRow) -> Analysis:
        data: dict[str, Any] = {
            "recording_id": row.recording_id,
            "analyzer": {"name": row.analyzer, "version": row.analyzer_version},
            "created_at": row.created_at,
            "duration_seconds": row.duration_seconds,
            "segment_seconds": row.segment_seconds,
            "scores": row.scores,
            "reasons": row.reasons,
            "measurements": row.measurements,
            "segments": row.segments,
            "definitions": row.definitions,
        }
        return cls.model_validate(data)
