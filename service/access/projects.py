"""Project sharing: who may view, edit, administer or delete a project and its annotations.

Levels rank view < edit < admin < owner. A teacher gets nothing implicit on a student's project:
only an explicit share counts. Platform admins act as project admins on every project (support
and moderation) but, like everyone else, cannot delete a project they don't own.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from service.auth.user import User
from service.core.db import Conn
from service.core.exceptions import Forbidden, NotFound
from service.models.projects import CallerAccess
from service.repositories import projects
from service.repositories.projects import ProjectRow

Level = CallerAccess
RANK: dict[str, int] = {"view": 1, "edit": 2, "admin": 3, "owner": 4}


def effective_level(row: ProjectRow, user: User) -> Level | None:
    if user.is_admin and RANK.get(row.access_level or "", 0) < RANK["admin"]:
        return "admin"
    return row.access_level


def allows(level: str | None, needed: Level) -> bool:
    return RANK.get(level or "", 0) >= RANK[needed]


def can_change_annotation(level: str | None, author_id: UUID, user: User) -> bool:
    """Authors change their own annotations; edit rights on the project change anyone's."""
    return author_id == user.id or allows(level, "edit")


async def load_project(
    conn: Conn, project_id: UUID, user: User, needed: Level, *, allow_deleting: bool = False
) -> ProjectRow:
    """The project row with the caller's `access_level`; 404 if they can't see it, 403 if too low.

    404 (not 403) for projects the caller can't see, so ids don't reveal that a project exists.
    """
    row = await projects.get_for_user(conn, project_id, user.id)
    level = effective_level(row, user) if row else None
    if row is None or level is None or (row.status == "deleting" and not allow_deleting):
        raise NotFound("project_not_found", "No such project, or it isn't shared with you.")
    if not allows(level, needed):
        raise Forbidden(
            "insufficient_access",
            f"This needs {needed} rights on the project; you have {level}.",
        )
    return replace(row, access_level=level)
