"""A user's practice context: goals, constraints, repertoire, level and daily practice time.

Read through the caller's AccessScope like every user's data: their own, a linked teacher their
students', an admin anyone's; only the owner (or an admin) changes it. A user who never saved
one reads the defaults (empty text, no repertoire, level and minutes not stated), not a 404.
"""

from __future__ import annotations

from uuid import UUID

from service.access.scope import AccessScope
from service.core.db import Conn
from service.core.exceptions import Forbidden, NotFound
from service.models.practice_context import PracticeContext, PracticeContextIn
from service.repositories import practice_contexts as repo
from service.repositories import users
from service.repositories.practice_contexts import PracticeContextRow

NOT_FOUND = NotFound("user_not_found", "No such user, or not one whose context you may read.")


def _context(user_id: UUID, row: PracticeContextRow | None) -> PracticeContext:
    if row is None:
        return PracticeContext(user_id=user_id, updated_at=None)
    return PracticeContext(
        user_id=user_id,
        goals=row.goals,
        constraints=row.constraints,
        repertoire=row.repertoire,
        experience_level=row.experience_level,  # type: ignore[arg-type]  # CHECKed in SQL
        practice_minutes_per_day=row.practice_minutes_per_day,
        updated_at=row.updated_at,
    )


async def read_context(conn: Conn, scope: AccessScope, user_id: UUID) -> PracticeContext:
    if not scope.can_read_user_data(user_id):
        raise NOT_FOUND
    row = await repo.get(conn, user_id)
    # Only an admin's scope reaches ids it hasn't seen in a link: make sure the user exists.
    if (
        row is None
        and user_id != scope.user_id
        and await users.get_by_id(conn, str(user_id)) is None
    ):
        raise NOT_FOUND
    return _context(user_id, row)


async def write_context(
    conn: Conn, scope: AccessScope, user_id: UUID, values: PracticeContextIn
) -> PracticeContext:
    if not scope.can_read_user_data(user_id):
        raise NOT_FOUND
    if not scope.can_change(user_id):
        raise Forbidden("forbidden", "Teachers can read their students' context but not change it.")
    row = await repo.upsert(conn, user_id, **values.model_dump())
    if row is None:
        raise NOT_FOUND
    return _context(user_id, row)
