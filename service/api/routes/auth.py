from __future__ import annotations

import asyncio

from fastapi import APIRouter, status

from service.api.deps import AuthDep, ClientIp, CurrentUser, DbConn, LoginGuardDep
from service.auth.passwords import hash_password
from service.auth.sessions import AuthSessions
from service.core.errors import error_responses
from service.core.exceptions import Forbidden, Unauthenticated, Unsupported
from service.models.auth import LoginRequest, RefreshRequest, TokenPair
from service.models.users import RegisterRequest, UserPublic
from service.repositories import audit, users

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _local_sessions(auth: AuthDep) -> AuthSessions:
    if auth.sessions is None:
        raise Unsupported(
            "unsupported_for_auth_provider",
            f"Accounts are managed by the '{auth.provider}' identity provider.",
        )
    return auth.sessions


@router.post(
    "/register",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 403, 409, 422),
)
async def register(
    body: RegisterRequest, conn: DbConn, auth: AuthDep, guard: LoginGuardDep, ip: ClientIp
) -> UserPublic:
    _local_sessions(auth)
    await guard.check_ip(conn, ip)  # hashing a password costs the same as a sign-in
    if body.role == "admin":
        raise Forbidden("admin_registration_forbidden", "Admin accounts can't be self-registered.")
    row = await users.create_user(
        conn,
        email=str(body.email),
        display_name=body.display_name.strip(),
        role=body.role,
        password_hash=await asyncio.to_thread(hash_password, body.password),
    )
    return UserPublic.model_validate(row)


@router.post("/login", response_model=TokenPair, responses=error_responses(400, 401, 403, 422, 429))
async def login(
    body: LoginRequest, conn: DbConn, auth: AuthDep, guard: LoginGuardDep, ip: ClientIp
) -> TokenPair:
    """Per-IP and per-account limits, and exponential backoff after repeated failures (429 with
    Retry-After), are checked before the password is."""
    sessions = _local_sessions(auth)
    email = str(body.email)
    await guard.check(conn, email, ip)
    try:
        pair = await sessions.login(conn, email, body.password)
    except Unauthenticated:
        await guard.failed(conn, email, ip)
        # The address as typed, not whether it is an account: the log is for spotting attacks.
        await audit.record(
            conn, "auth.login_failed", actor=None, details={"email": email}, client_ip=ip
        )
        raise
    await guard.succeeded(conn, email)
    return pair


@router.post("/refresh", response_model=TokenPair, responses=error_responses(400, 401, 422))
async def refresh(body: RefreshRequest, conn: DbConn, auth: AuthDep) -> TokenPair:
    """Rotates the refresh token. Reusing an old one revokes every token of that login."""
    return await _local_sessions(auth).refresh(conn, body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(400, 422))
async def logout(body: RefreshRequest, conn: DbConn, auth: AuthDep) -> None:
    await _local_sessions(auth).logout(conn, body.refresh_token)


@router.get("/me", response_model=UserPublic, responses=error_responses(401, 403))
async def me(user: CurrentUser, conn: DbConn) -> UserPublic:
    row = await users.get_by_id(conn, str(user.id))
    if row is None:
        raise Unauthenticated("user_not_found", "The token's user no longer exists.")
    return UserPublic.model_validate(row)
