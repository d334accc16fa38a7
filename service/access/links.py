"""Teacher-student links: who may create, see and remove them."""

from __future__ import annotations

from uuid import UUID

from service.auth.user import User
from service.core.exceptions import Forbidden
from service.repositories.relationships import LinkRow


def teacher_to_link(user: User, requested: UUID | None) -> UUID | None:
    """The teacher the caller may link a student to: teachers only themselves, admins whoever
    they name (None: they named nobody). Anyone else links nobody."""
    if user.role == "teacher":
        if requested is not None and requested != user.id:
            raise Forbidden("forbidden", "Teachers can only link students to themselves.")
        return user.id
    if user.is_admin:
        return requested
    raise Forbidden("forbidden_role", "Students can't create teacher links.")


def can_see_link(user: User, link: LinkRow) -> bool:
    return user.is_admin or user.id in (link.teacher_id, link.student_id)


def can_remove_link(user: User, link: LinkRow) -> bool:
    """The link's teacher or an admin; the student sees it but can't remove it."""
    return user.is_admin or link.teacher_id == user.id
