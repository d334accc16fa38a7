"""Request and response shapes for questions and chat sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from service.models.text import FreeText, Line


class QueryRequest(BaseModel):
    query: FreeText = Field(min_length=1, max_length=2000)
    session_id: UUID | None = None
    top_k: int = Field(default=5, ge=1, le=20)
    stream: bool = False
    # Sent by the edge Worker (with X-Origin-Secret); ignored otherwise.
    query_embedding: list[float] | None = Field(default=None, max_length=4096)
    embedding_model: str | None = Field(default=None, max_length=200)


class TutorRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: FreeText = Field(min_length=1, max_length=4000)
    session_id: UUID | None = Field(
        default=None, description="Continue this session; a new one is created when left out"
    )


class PageRange(BaseModel):
    start: int
    end: int


class Source(BaseModel):
    n: int
    document_id: UUID
    title: str
    source_type: str
    chunk_id: int
    chunk_index: int
    pages: PageRange | None
    page: int | None
    timestamp_seconds: float | None
    section: str | None
    text: str
    snippet: str
    score: float
    similarity: float
    url: str


class CacheUse(BaseModel):
    search: bool = Field(description="The search results came from the cache")
    answer: bool = Field(description="The answer text came from the cache")


class QueryAnswer(BaseModel):
    """The JSON answer: the SSE stream's `sources` and `done` events in one body."""

    answer: str
    sources: list[Source]
    confidence: Literal["HIGH", "MEDIUM", "LOW"]
    session_id: UUID | None
    message_id: UUID | None
    timings_ms: dict[str, float]
    provider: str
    extractive: bool
    fallback: dict[str, str] | None
    citations: list[int]
    dropped_citations: int = Field(
        description="Citation markers removed because they named no source"
    )
    cached: CacheUse
    search_plan: dict[str, Any] | None = Field(
        description="How the search ran (None when its results came from the cache)"
    )


class SessionCreate(BaseModel):
    title: Line | None = Field(default=None, min_length=1, max_length=200)


class ChatSession(BaseModel):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime


class ChatMessage(BaseModel):
    id: UUID
    role: Literal["user", "assistant"]
    content: str
    sources: list[dict[str, Any]]
    confidence: str | None
    provider: str | None
    tool_calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The tutor's tool calls for this answer: name, arguments, outcome, summary, ids",
    )
    created_at: datetime


class ChatSessionDetail(ChatSession):
    messages: list[ChatMessage]


class MessageCreate(BaseModel):
    session_id: UUID
    role: Literal["user", "assistant"] = "user"
    content: FreeText = Field(min_length=1, max_length=20000)


class CachePurged(BaseModel):
    purged: int
    layer: str | None
