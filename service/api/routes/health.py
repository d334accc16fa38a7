from __future__ import annotations

import asyncio
import time
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import PoolDep, SettingsDep
from service.core.migrations import SCHEMA_VERSION_SQL
from service.models.health import HealthStatus, VersionInfo

router = APIRouter(prefix="/api", tags=["health"])

_HEALTH_TIMEOUT_S = 2.0


def _package_version() -> str:
    try:
        return version("piano-platform")
    except PackageNotFoundError:
        return "0.0.0"


@router.get(
    "/health",
    response_model=HealthStatus,
    responses={503: {"model": HealthStatus, "description": "database unavailable"}},
)
async def health(pool: PoolDep) -> JSONResponse:
    """Load-balancer health check: cheap, bounded in time, and honest about the database."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(_HEALTH_TIMEOUT_S):
            async with pool.connection(timeout=_HEALTH_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
    except Exception:
        body = HealthStatus(status="degraded", database="unavailable")
        return JSONResponse(body.model_dump(), status_code=503)
    latency = round((time.perf_counter() - start) * 1000, 2)
    return JSONResponse(
        HealthStatus(status="ok", database="ok", database_latency_ms=latency).model_dump()
    )


@router.get("/version", response_model=VersionInfo)
async def version_info(pool: PoolDep, settings: SettingsDep) -> VersionInfo:
    schema: str | None = None
    try:
        async with pool.connection(timeout=_HEALTH_TIMEOUT_S) as conn:
            cur = await conn.execute(SCHEMA_VERSION_SQL)
            row = await cur.fetchone()
            schema = row["migration_id"] if row else None
    except Exception:
        schema = None
    return VersionInfo(
        version=_package_version(),
        build=settings.build_version,
        schema_version=schema,
        environment=settings.environment,
    )
