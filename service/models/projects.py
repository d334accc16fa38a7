"""Request and response shapes for projects and their sharing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from service.models.text import FreeText, Line
from service.models.uploads import UploadInstructions

ProjectStatus = Literal["pending", "ready", "deleting"]
AccessLevel = Literal["view", "edit", "admin"]
# The caller's effective rights: a grant level, or "owner".
CallerAccess = Literal["view", "edit", "admin", "owner"]
Ownership = Literal["all", "owned", "shared"]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Line = Field(min_length=1, max_length=200)
    filename: Line = Field(min_length=1, max_length=200, description="Original name; sanitised")
    description: FreeText | None = Field(default=None, max_length=5000)
    file_size: int = Field(
        gt=0,
        description="Exact size in bytes of the PDF to upload: signed into the upload URL, "
        "so the store refuses a body of any other length",
    )


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Line | None = Field(default=None, min_length=1, max_length=200)
    description: FreeText | None = Field(default=None, max_length=5000)


class Project(BaseModel):
    id: UUID
    owner_id: UUID
    title: str
    description: str | None
    filename: str
    status: ProjectStatus
    page_count: int | None
    file_size: int | None
    pdf_title: str | None = Field(description="Title from the PDF's metadata, if it has one")
    access: CallerAccess = Field(description="The caller's rights on this project")
    created_at: datetime
    updated_at: datetime


class ProjectDetail(Project):
    download_url: str | None = Field(description="Presigned GET, only when status is ready")
    download_expires_at: datetime | None


class ProjectCreated(BaseModel):
    project: Project
    upload_url: str
    expires_at: datetime
    upload: UploadInstructions


class AccessGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    level: AccessLevel


class AccessEntry(BaseModel):
    user_id: UUID
    email: str
    display_name: str
    level: CallerAccess
    granted_by: UUID | None
    created_at: datetime


class StreamAuthorization(BaseModel):
    bucket_binding: Literal["PDF_BUCKET"] = "PDF_BUCKET"
    key: str
    filename: str
    content_type: Literal["application/pdf"] = "application/pdf"
    size: int
    etag: str
