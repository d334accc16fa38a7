"""Sharing a project: grant, list and revoke per-user rights."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from service.access.projects import load_project
from service.api.deps import CurrentUser, DbConn
from service.core.errors import error_responses
from service.core.exceptions import Conflict, NotFound
from service.models.projects import AccessEntry, AccessGrant
from service.repositories import project_access, users

router = APIRouter(prefix="/api/projects/{project_id}/access", tags=["projects"])


async def _entries(conn: DbConn, project_id: UUID) -> list[AccessEntry]:
    return await project_access.list_for_project(conn, project_id)


@router.post(
    "",
    response_model=list[AccessEntry],
    responses=error_responses(401, 403, 404, 409, 422),
)
async def grant_access(
    project_id: UUID, body: AccessGrant, user: CurrentUser, conn: DbConn
) -> list[AccessEntry]:
    """Admin rights needed. Granting again changes the level. Returns everyone with access."""
    project = await load_project(conn, project_id, user, "admin")
    if body.user_id == project.owner_id:
        raise Conflict("owner_access_fixed", "The owner always has full rights.")
    target = await users.get_by_id(conn, str(body.user_id))
    if target is None or not target.is_active:
        raise NotFound("user_not_found", "No active user with that id.")
    await project_access.upsert(conn, project_id, body.user_id, body.level, user.id)
    return await _entries(conn, project_id)


@router.get("", response_model=list[AccessEntry], responses=error_responses(401, 403, 404))
async def list_access(project_id: UUID, user: CurrentUser, conn: DbConn) -> list[AccessEntry]:
    """Anyone who can see the project can see who else can (the owner comes first)."""
    await load_project(conn, project_id, user, "view")
    return await _entries(conn, project_id)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409),
)
async def revoke_access(
    project_id: UUID, user_id: UUID, user: CurrentUser, conn: DbConn
) -> Response:
    project = await load_project(conn, project_id, user, "admin")
    if user_id == project.owner_id:
        raise Conflict("owner_not_revocable", "Nobody can revoke the owner's access.")
    if not await project_access.delete(conn, project_id, user_id):
        raise NotFound("access_not_found", "That user has no access to revoke.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
