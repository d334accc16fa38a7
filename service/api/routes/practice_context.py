"""The caller's practice context (or, for a linked teacher, a student's: read only)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from service.api.deps import CallerScope, CurrentUser, DbConn
from service.core.errors import error_responses
from service.models.practice_context import PracticeContext, PracticeContextIn
from service.practice_context import read_context, write_context

router = APIRouter(prefix="/api/v1/context", tags=["practice context"])

UserParam = Annotated[UUID | None, Query(description="Whose context (default: the caller's own)")]


@router.get("", response_model=PracticeContext, responses=error_responses(401, 404, 422))
async def get_context(
    user: CurrentUser, conn: DbConn, scope: CallerScope, user_id: UserParam = None
) -> PracticeContext:
    """A user who never saved a context gets the defaults (`updated_at` null), not a 404."""
    return await read_context(conn, scope, user_id or user.id)


@router.put("", response_model=PracticeContext, responses=error_responses(401, 403, 404, 422))
async def put_context(
    body: PracticeContextIn,
    user: CurrentUser,
    conn: DbConn,
    scope: CallerScope,
    user_id: UserParam = None,
) -> PracticeContext:
    """Replaces the whole context (fields left out go back to their defaults)."""
    return await write_context(conn, scope, user_id or user.id, body)
