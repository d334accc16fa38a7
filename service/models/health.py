from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthStatus(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    database_latency_ms: float | None = None


class Liveness(BaseModel):
    status: Literal["alive"]


class ReadinessStatus(BaseModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unavailable"]
    migrations: Literal["ok", "behind", "unknown"]
    storage: Literal["ok", "unavailable"]
    schema_head: str | None
    missing_migrations: list[str]
    database_latency_ms: float | None = None


class VersionInfo(BaseModel):
    version: str
    build: str
    schema_version: str | None
    environment: str
