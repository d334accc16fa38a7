"""Request and response shapes for the knowledge base."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.knowledge.youtube import video_id
from service.models.text import FreeText, Line
from service.models.uploads import UploadInstructions

SourceType = Literal["pdf", "web", "youtube", "text"]
ProcessingState = Literal["pending", "processing", "completed", "failed"]
Publication = Literal["private", "pending_review", "public", "rejected"]

# Extensions accepted per file source, with the Content-Type the presigned PUT is signed for.
FILE_TYPES: dict[str, dict[str, str]] = {
    "pdf": {".pdf": "application/pdf"},
    "text": {".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"},
    "youtube": {".vtt": "text/vtt", ".srt": "application/x-subrip"},
}


class KnowledgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Line = Field(min_length=1, max_length=300)
    source_type: SourceType
    is_public: bool = Field(
        default=False,
        description="Ask for everyone to read it: admins publish at once, a teacher's request "
        "waits for an admin's approval (publication: pending_review)",
    )
    url: Line | None = Field(default=None, max_length=2048, description="web and youtube sources")
    filename: Line | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="pdf (.pdf), text (.txt/.md), or a youtube transcript (.vtt/.srt)",
    )
    file_size: int | None = Field(
        default=None,
        gt=0,
        description="With a filename: the file's exact size in bytes, signed into the upload URL",
    )

    @model_validator(mode="after")
    def _source_fields(self) -> Self:
        if self.source_type in ("web", "youtube"):
            if not self.url:
                raise ValueError(f"url is required for {self.source_type} sources")
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("url must be an absolute http(s) URL")
        elif self.url is not None:
            raise ValueError(f"url is not used for {self.source_type} sources")
        if self.source_type == "youtube" and not self.filename and video_id(self.url or "") is None:
            # Without an uploaded transcript the captions are fetched, which needs a video id.
            raise ValueError(
                "url must be a YouTube video URL (watch?v=, youtu.be/, shorts/) when no "
                "transcript file is uploaded"
            )
        if self.source_type in ("pdf", "text") and not self.filename:
            raise ValueError(f"filename is required for {self.source_type} sources")
        if self.source_type == "web" and self.filename is not None:
            raise ValueError("web sources are fetched from their url; no filename")
        if self.filename is not None:
            allowed = FILE_TYPES[self.source_type]
            if not any(self.filename.lower().endswith(ext) for ext in allowed):
                raise ValueError(
                    f"filename for {self.source_type} must end in one of: {', '.join(allowed)}"
                )
        if (self.filename is None) != (self.file_size is None):
            raise ValueError("filename and file_size go together (file_size: the upload's bytes)")
        return self

    def file_extension(self) -> str:
        assert self.filename is not None
        return next(e for e in FILE_TYPES[self.source_type] if self.filename.lower().endswith(e))


class KnowledgeError(BaseModel):
    code: str
    message: str | None


class Progress(BaseModel):
    chunks_embedded: int
    chunks_total: int
    percent: float = Field(description="chunks_embedded / chunks_total, 0..100")


class KnowledgeDocument(BaseModel):
    id: UUID
    owner_id: UUID | None = Field(description="null for platform documents")
    title: str
    source_type: SourceType
    source_url: str | None
    filename: str | None
    is_public: bool = Field(description="Readable by everyone: true only once approved")
    publication: Publication
    publication_note: str | None = Field(description="The reviewer's note on a rejection")
    status: ProcessingState
    progress: Progress
    error: KnowledgeError | None
    page_count: int | None
    embedding_model: str | None
    embedding_dim: int | None
    processing_started_at: datetime | None
    processing_finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class KnowledgeCreated(BaseModel):
    document: KnowledgeDocument
    upload: UploadInstructions | None = Field(
        description="For file sources: PUT the file here, then POST /process"
    )


class ProcessingStatus(BaseModel):
    id: UUID
    status: ProcessingState
    progress: Progress
    error: KnowledgeError | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        for i, text in enumerate(self.texts):
            if len(text) > 8000:
                raise ValueError(f"texts[{i}] is longer than 8000 characters")
            if not text.strip():
                raise ValueError(f"texts[{i}] is empty")
        return self


class EmbeddingsResponse(BaseModel):
    model: str
    dimensions: int
    embeddings: list[list[float]]


class PublicationChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: bool = Field(description="true: ask to publish (admins: publish); false: make private")


class PublicationReview(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: FreeText | None = Field(default=None, max_length=2000, description="Told to the owner")
