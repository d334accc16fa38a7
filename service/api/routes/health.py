from __future__ import annotations

import asyncio
import time
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import PoolDep, SettingsDep, StoreDep
from service.core.migrations import SCHEMA_VERSION_SQL
from service.core.readiness import check_readiness
from service.models.health import HealthStatus, Liveness, ReadinessStatus, VersionInfo

router = APIRouter(prefix="/api", tags=["health"])

_HEALTH_TIMEOUT_S = 2.0


def _package_version() -> str:
    try:
        return version("piano-platform")
    except PackageNotFoundError:
        return "0.0.0"


@router.get("/live", response_model=Liveness)
async def live() -> Liveness:
    """Liveness (instance autohealing): the process answers. Never touches the database, so an
    outage of a dependency can't get healthy instances recreated."""
    return Liveness(status="alive")


@router.get(
    "/ready",
    response_model=ReadinessStatus,
    responses={503: {"model": ReadinessStatus, "description": "not ready"}},
)
async def ready(pool: PoolDep, store: StoreDep) -> JSONResponse:
    """Readiness (load balancer): database answers, every shipped migration applied (a newer
    schema counts), object storage answers. Bounded: answers within the check's budget."""
    found = await check_readiness(pool, store, _HEALTH_TIMEOUT_S)
    body = ReadinessStatus(
        status="ready" if found.ready else "not_ready",
        database=found.database,
        migrations=found.migrations,
        storage=found.storage,
        schema_head=found.schema_head,
        missing_migrations=found.missing_migrations,
        database_latency_ms=found.database_latency_ms,
    )
    return JSONResponse(body.model_dump(), status_code=200 if found.ready else 503)


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
