"""Request dependencies: the app's services (typed), the DB connection, the caller, their
access scope, and role checks. The only module besides the app factory that reads app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.access.scope import AccessScope, scope_for
from service.answers.engine import RagEngine
from service.auth import api_keys
from service.auth.identity import Role
from service.auth.provider import AuthContext
from service.auth.user import User
from service.container import Services
from service.core.client_ip import client_ip
from service.core.config import Settings
from service.core.db import Conn, Pool
from service.core.exceptions import Forbidden, Unauthenticated
from service.core.ratelimit_headers import STATE_KEY
from service.knowledge.queue import QueueClient
from service.models.common import PageParams
from service.ratelimit import Bucket, LoginGuard, RateLimits
from service.search.query_embedding import QueryEmbedder
from service.storage import ObjectStore

T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Personal API key (POST /api/auth/api-keys)"
)


# Every dependency here is `async def`, even when it awaits nothing: FastAPI runs a plain `def`
# dependency in its thread pool, one hop per dependency per request, and under load each hop
# waits for a core to wake a thread (tests/architecture/test_wiring.py keeps it so).


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _part(read: Callable[[Services], T]) -> Any:
    """`Depends` on one part of the services; the Annotated alias that uses it names the type."""

    async def dependency(services: ServicesDep) -> T:
        return read(services)

    return Depends(dependency)


SettingsDep = Annotated[Settings, _part(lambda s: s.settings)]
PoolDep = Annotated[Pool, _part(lambda s: s.pool)]
AuthDep = Annotated[AuthContext, _part(lambda s: s.auth)]
StoreDep = Annotated[ObjectStore, _part(lambda s: s.store)]
QueueDep = Annotated[QueueClient, _part(lambda s: s.queue)]
EmbedderDep = Annotated[QueryEmbedder, _part(lambda s: s.embedder)]
EngineDep = Annotated[RagEngine, _part(lambda s: s.engine)]
RateLimitsDep = Annotated[RateLimits, _part(lambda s: s.rate_limits)]
LoginGuardDep = Annotated[LoginGuard, _part(lambda s: s.login_guard)]


async def get_client_ip(request: Request, settings: SettingsDep) -> str:
    return client_ip(request, settings)


ClientIp = Annotated[str, Depends(get_client_ip)]


async def get_conn(pool: PoolDep) -> AsyncIterator[Conn]:
    conn = await pool.getconn()  # PoolTimeout: the error handlers answer 503
    try:
        yield conn
    finally:
        await pool.putconn(conn)


DbConn = Annotated[Conn, Depends(get_conn)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ApiKey = Annotated[str | None, Depends(_api_key)]


async def spend(
    request: Request, limits: RateLimits, conn: Conn, buckets: Sequence[Bucket], user: User
) -> None:
    """Charges one request to each of the user's `buckets` not yet charged for this request, in
    one round trip, leaving the quotas for the RateLimit headers; raises RateLimited (429) at
    the first empty bucket."""
    state = request.scope.setdefault("state", {})
    spent: list = state.setdefault(STATE_KEY, [])
    due = [b for b in buckets if not any(q.bucket == b for q in spent)]
    await limits.charge_all(conn, [(b, str(user.id)) for b in due], spent)


async def authenticate_caller(
    request: Request, conn: DbConn, auth: AuthDep, credentials: Credentials, api_key: ApiKey
) -> User:
    """The caller, from a personal API key or a bearer token, spending nothing."""
    if api_key:
        return await api_keys.authenticate(conn, api_key, request.method)
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated(
            "not_authenticated", "A bearer access token is required.", challenge="Bearer"
        )
    return await auth.authenticate(conn, credentials.credentials)


Caller = Annotated[User, Depends(authenticate_caller)]


async def get_current_user(
    request: Request, conn: DbConn, limits: RateLimitsDep, user: Caller
) -> User:
    """The authenticated caller; every such request spends one from the user's `api` bucket."""
    await spend(request, limits, conn, ["api"], user)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def _brief_caller(*buckets: Bucket) -> Callable[..., Coroutine[Any, Any, User]]:
    """The caller, charged `buckets` on a connection returned at once: answers may stream for
    seconds. Authentication and the charges share the one connection and the charges one
    round trip."""

    async def dependency(
        request: Request,
        pool: PoolDep,
        auth: AuthDep,
        limits: RateLimitsDep,
        credentials: Credentials,
        api_key: ApiKey,
    ) -> User:
        async with pool.connection() as conn:
            user = await authenticate_caller(request, conn, auth, credentials, api_key)
            await spend(request, limits, conn, buckets, user)
            return user

    return dependency


# Like CurrentUser, but holding no connection.
get_brief_user = _brief_caller("api")
BriefUser = Annotated[User, Depends(get_brief_user)]


async def get_scope(conn: DbConn, user: CurrentUser) -> AccessScope:
    return await scope_for(conn, user.id, user.role)


CallerScope = Annotated[AccessScope, Depends(get_scope)]


def charged(bucket: Bucket) -> Any:
    """The caller (as CurrentUser), also spending from `bucket` (e.g. "uploads") in the same
    round trip as `api`; use `charged_brief` on routes that must not hold a connection
    (streams)."""

    async def dependency(
        request: Request, conn: DbConn, limits: RateLimitsDep, user: Caller
    ) -> User:
        await spend(request, limits, conn, ["api", bucket], user)
        return user

    return Depends(dependency)


def charged_brief(bucket: Bucket) -> Any:
    """BriefUser, also spending from `bucket` in the same round trip as `api`."""
    return Depends(_brief_caller("api", bucket))


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                "forbidden_role", f"This action needs one of the roles: {', '.join(roles)}."
            )
        return user

    return check


async def page_params(
    page: int = Query(1, ge=1, le=100_000, description="1-based page number"),
    page_size: int = Query(20, ge=1, le=100, description="Items per page (max 100)"),
) -> PageParams:
    return PageParams(page=page, page_size=page_size)
