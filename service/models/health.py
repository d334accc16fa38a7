from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthStatus(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    database_latency_ms: float | None = None


class VersionInfo(BaseModel):
    version: str
    build: str
    schema_version: str | None
    environment: str
