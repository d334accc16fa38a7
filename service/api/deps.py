"""Request dependencies: the DB connection, the caller, and role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import PoolTimeout

from service.auth.identity import Role
from service.auth.provider import AuthContext
from service.auth.user import User
from service.core.config import Settings
from service.core.db import Conn, Pool
from service.core.errors import APIError
from service.repositories import users

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/auth/login")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_pool(request: Request) -> Pool:
    return request.app.state.pool


async def get_conn(request: Request) -> AsyncIterator[Conn]:
    pool: Pool = request.app.state.pool
    try:
        conn = await pool.getconn()
    except PoolTimeout as exc:  # DB down, or every connection busy for the whole timeout
        raise APIError(503, "database_unavailable", "The database is not answering.") from exc
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
        raise APIError(
            401,
            "not_authenticated",
            "A bearer access token is required.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    claims = await auth.verifier.verify(credentials.credentials)
    row: dict[str, Any] | None
    if claims.provider == "supabase":
        if not claims.email:
            raise APIError(401, "token_invalid", "The access token has no email claim.")
        row = await users.upsert_external(
            conn, subject=claims.subject, email=claims.email, role=claims.role
        )
    else:
        try:
            row = await users.get_by_id(conn, str(UUID(claims.subject)))
        except ValueError:
            row = None
    if row is None:
        raise APIError(401, "user_not_found", "The token's user no longer exists.")
    if not row["is_active"]:
        raise APIError(403, "account_disabled", "This account is disabled.")
    return User(
        id=row["id"], email=row["email"], display_name=row["display_name"], role=row["role"]
    )


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    async def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise APIError(
                403, "forbidden_role", f"This action needs one of the roles: {', '.join(roles)}."
            )
        return user

    return check
