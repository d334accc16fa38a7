"""Teacher-student links and the requests that create them: who may ask, answer, see and end.

A link needs the student's consent. A teacher asks by email; the request is addressed to that
address, never resolved to an account when made, so asking tells the teacher nothing about who
is registered. The student holding the address accepts (the link exists from then on) or
declines. A decline is the student's business: the teacher keeps seeing the request as pending
(until they cancel it), since "declined" would confirm the address is registered. Either side
of a link, or an admin, can end it. Admins link any pair at once (support), without a request.
"""

from __future__ import annotations

from uuid import UUID

from service.auth.user import User
from service.core.exceptions import Forbidden
from service.repositories.relationships import LinkRequestRow, LinkRow


def teacher_to_link(user: User, requested: UUID | None) -> UUID | None:
    """Direct links are for admins, who name the teacher (None: they named nobody). A teacher
    asks the student instead; a student links nobody."""
    if user.is_admin:
        return requested
    if user.role == "teacher":
        raise Forbidden(
            "link_request_required",
            "Teachers ask students to link: POST /api/relationships/requests "
            "with the student's email; the link starts when they accept.",
        )
    raise Forbidden("forbidden_role", "Students can't create teacher links.")


def may_request_links(user: User) -> None:
    if user.role != "teacher":
        raise Forbidden("forbidden_role", "Only teachers ask students to link.")


def is_addressee(user: User, request: LinkRequestRow) -> bool:
    return user.role == "student" and user.email.lower() == request.student_email.lower()


def can_see_request(user: User, request: LinkRequestRow) -> bool:
    """A withdrawn request is gone for the student it was addressed to."""
    if user.is_admin or request.teacher_id == user.id:
        return True
    return is_addressee(user, request) and request.status != "cancelled"


def can_answer_request(user: User, request: LinkRequestRow) -> bool:
    return is_addressee(user, request) and request.status == "pending"


def can_cancel_request(user: User, request: LinkRequestRow) -> bool:
    return (user.is_admin or request.teacher_id == user.id) and request.status in (
        "pending",
        "declined",
    )


def status_seen_by(user: User, request: LinkRequestRow) -> str:
    """What the caller is told about a request: only the student and admins see a decline."""
    if request.status == "declined" and not (user.is_admin or is_addressee(user, request)):
        return "pending"
    return request.status


def can_see_link(user: User, link: LinkRow) -> bool:
    return user.is_admin or user.id in (link.teacher_id, link.student_id)


def can_remove_link(user: User, link: LinkRow) -> bool:
    """Either side ends a link whenever they want; admins too."""
    return can_see_link(user, link)
