"""Request dependencies: the DB connection, the caller, their access scope, and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.access.scope import AccessScope, scope_for
from service.auth.identity import Role
from service.auth.provider import AuthContext
from service.auth.user import User
from service.core.config import Settings
from service.core.db import Conn, Pool
from service.core.exceptions import Forbidden, Unauthenticated

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_pool(request: Request) -> Pool:
    return request.app.state.pool


async def get_conn(request: Request) -> AsyncIterator[Conn]:
    pool: Pool = request.app.state.pool
    conn = await pool.getconn()  # PoolTimeout: the error handlers answer 503
    try:
        yield conn
    finally:
        await pool.putconn(conn)


def get_auth(request: Request) -> AuthContext:
    return request.app.state.auth


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbConn = Annotated[Conn, Depends(get_conn)]
AuthDep = Annotated[AuthContext, Depends(get_auth)]


async def get_current_user(
    conn: DbConn,
    auth: AuthDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated(
            "not_authenticated", "A bearer access token is required.", challenge="Bearer"
        )
    return await auth.authenticate(conn, credentials.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


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
