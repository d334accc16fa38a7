"""Personal API keys: create (shown once), list, revoke. Only a signed-in session manages keys."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from service.api.deps import CurrentUser, DbConn, page_params
from service.auth.api_keys import mint, require_session
from service.core.errors import error_responses
from service.core.exceptions import Conflict, NotFound
from service.models.api_keys import ApiKey, ApiKeyCreate, ApiKeyCreated
from service.models.common import Page, PageParams
from service.repositories import api_keys, audit

router = APIRouter(prefix="/api/auth/api-keys", tags=["api keys"])

MAX_ACTIVE_KEYS = 20


@router.post(
    "",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
async def create_api_key(body: ApiKeyCreate, user: CurrentUser, conn: DbConn) -> ApiKeyCreated:
    """Send the key as `X-API-Key`; it counts against your own rate limits."""
    require_session(user)
    if await api_keys.count_active(conn, user.id) >= MAX_ACTIVE_KEYS:
        raise Conflict("too_many_api_keys", f"Revoke a key first (at most {MAX_ACTIVE_KEYS}).")
    minted = mint()
    async with conn.transaction():
        row = await api_keys.create(
            conn,
            user_id=user.id,
            name=body.name,
            scope=body.scope,
            prefix=minted.prefix,
            key_hash=minted.key_hash,
        )
        await audit.record(
            conn,
            "api_key.create",
            actor=user,
            target_type="api_key",
            target_id=row.id,
            details={"name": row.name, "scope": row.scope, "prefix": row.prefix},
        )
    return ApiKeyCreated(**ApiKey.model_validate(row).model_dump(), key=minted.key)


@router.get("", response_model=Page[ApiKey], responses=error_responses(401, 403, 422))
async def list_api_keys(
    user: CurrentUser, conn: DbConn, paging: Annotated[PageParams, Depends(page_params)]
) -> Page[ApiKey]:
    """The caller's keys (revoked ones included), newest first; never the keys themselves."""
    rows, total = await api_keys.list_for_user(conn, user.id, paging.page_size, paging.offset)
    return paging.of([ApiKey.model_validate(r) for r in rows], total)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def revoke_api_key(key_id: UUID, user: CurrentUser, conn: DbConn) -> Response:
    """Takes effect at once, on every instance. Revoking twice is fine."""
    require_session(user)
    async with conn.transaction():
        row = await api_keys.revoke(conn, key_id, user.id)
        if row is None:
            raise NotFound("api_key_not_found", "No such API key.")
        await audit.record(
            conn, "api_key.revoke", actor=user, target_type="api_key", target_id=row.id
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
