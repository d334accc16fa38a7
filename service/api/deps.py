"""Request dependencies: the app's services (typed), the DB connection, the caller, their
access scope, and role checks. The only module besides the app factory that reads app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.access.scope import AccessScope, scope_for
from service.answers.engine import RagEngine
from service.auth.identity import Role
from service.auth.provider import AuthContext
from service.auth.user import User
from service.container import Services
from service.core.config import Settings
from service.core.db import Conn, Pool
from service.core.exceptions import Forbidden, Unauthenticated
from service.knowledge.queue import QueueClient
from service.models.common import PageParams
from service.search.query_embedding import QueryEmbedder
from service.storage import ObjectStore

T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _part(read: Callable[[Services], T]) -> Any:
    """`Depends` on one part of the services; the Annotated alias that uses it names the type."""

    def dependency(services: ServicesDep) -> T:
        return read(services)

    return Depends(dependency)


SettingsDep = Annotated[Settings, _part(lambda s: s.settings)]
PoolDep = Annotated[Pool, _part(lambda s: s.pool)]
AuthDep = Annotated[AuthContext, _part(lambda s: s.auth)]
StoreDep = Annotated[ObjectStore, _part(lambda s: s.store)]
QueueDep = Annotated[QueueClient, _part(lambda s: s.queue)]
EmbedderDep = Annotated[QueryEmbedder, _part(lambda s: s.embedder)]
EngineDep = Annotated[RagEngine, _part(lambda s: s.engine)]


async def get_conn(pool: PoolDep) -> AsyncIterator[Conn]:
    conn = await pool.getconn()  # PoolTimeout: the error handlers answer 503
    try:
        yield conn
    finally:
        await pool.putconn(conn)


DbConn = Annotated[Conn, Depends(get_conn)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_current_user(conn: DbConn, auth: AuthDep, credentials: Credentials) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated(
            "not_authenticated", "A bearer access token is required.", challenge="Bearer"
        )
    return await auth.authenticate(conn, credentials.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_brief_user(pool: PoolDep, auth: AuthDep, credentials: Credentials) -> User:
    """Like CurrentUser, but returns its connection at once: answers may stream for seconds."""
    async with pool.connection() as conn:
        return await get_current_user(conn, auth, credentials)


BriefUser = Annotated[User, Depends(get_brief_user)]


async def get_scope(conn: DbConn, user: CurrentUser) -> AccessScope:
    return await scope_for(conn, user.id, user.role)


CallerScope = Annotated[AccessScope, Depends(get_scope)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                "forbidden_role", f"This action needs one of the roles: {', '.join(roles)}."
            )
        return user

    return check


def page_params(
    page: int = Query(1, ge=1, le=100_000, description="1-based page number"),
    page_size: int = Query(20, ge=1, le=100, description="Items per page (max 100)"),
) -> PageParams:
    return PageParams(page=page, page_size=page_size)
