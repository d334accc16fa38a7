"""How a client uploads a file straight to object storage (projects and knowledge share it)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class UploadInstructions(BaseModel):
    upload_url: str
    upload_method: Literal["PUT"] = "PUT"
    # Send exactly these headers: content type and length are part of the URL's signature.
    upload_headers: dict[str, str]
    max_bytes: int
    expires_at: datetime
