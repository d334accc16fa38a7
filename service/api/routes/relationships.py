"""Teacher-student links, made with the student's consent (rules: service/access/links.py)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from service.access.links import (
    can_answer_request,
    can_cancel_request,
    can_remove_link,
    can_see_link,
    can_see_request,
    may_request_links,
    status_seen_by,
    teacher_to_link,
)
from service.api.deps import CurrentUser, DbConn, page_params
from service.auth.user import User
from service.core.errors import error_responses
from service.core.exceptions import Conflict, Forbidden, Invalid, NotFound
from service.models.common import Page, PageParams
from service.models.relationships import (
    LinkRequest,
    LinkRequestCreate,
    Relationship,
    RelationshipCreate,
)
from service.models.users import UserSummary
from service.repositories import audit, relationships, users
from service.repositories.relationships import LinkRequestRow, LinkRow

router = APIRouter(prefix="/api/relationships", tags=["relationships"])

MAX_OPEN_REQUESTS = 200  # per teacher: asking is cheap, so it is bounded


def _to_model(row: LinkRow) -> Relationship:
    return Relationship(
        id=row.id,
        created_at=row.created_at,
        teacher=UserSummary(
            id=row.teacher_id, email=row.teacher_email, display_name=row.teacher_name
        ),
        student=UserSummary(
            id=row.student_id, email=row.student_email, display_name=row.student_name
        ),
    )


def _to_request(row: LinkRequestRow, viewer: User) -> LinkRequest:
    return LinkRequest(
        id=row.id,
        teacher=UserSummary(
            id=row.teacher_id, email=row.teacher_email, display_name=row.teacher_name
        ),
        student_email=row.student_email,
        status=status_seen_by(viewer, row),  # type: ignore[arg-type]
        created_at=row.created_at,
        responded_at=row.responded_at if status_seen_by(viewer, row) != "pending" else None,
        relationship_id=row.link_id,
    )


@router.post(
    "",
    response_model=Relationship,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def create_relationship(
    body: RelationshipCreate, user: CurrentUser, conn: DbConn
) -> Relationship:
    """Admins link a teacher-student pair at once. Teachers ask instead
    (POST /api/relationships/requests)."""
    teacher_id = teacher_to_link(user, body.teacher_id)
    if teacher_id is None:
        raise Invalid("teacher_required", "Admins must give teacher_id.")
    teacher = await users.get_by_id(conn, str(teacher_id))
    if teacher is None:
        raise NotFound("user_not_found", "No user with that teacher_id.")
    if teacher.role != "teacher":
        raise Invalid("not_a_teacher", "teacher_id does not belong to a teacher.")
    if body.student_id is not None:
        student = await users.get_by_id(conn, str(body.student_id))
    else:
        student = await users.get_by_email(conn, str(body.student_email))
    if student is None:
        raise NotFound("user_not_found", "No such student.")
    if student.role != "student":
        raise Invalid("not_a_student", "The linked user must have the student role.")
    async with conn.transaction():
        link_id = await relationships.create(conn, teacher.id, student.id, user.id)
        await audit.record(
            conn,
            "relationship.create",
            actor=user,
            target_type="relationship",
            target_id=link_id,
            details={"teacher_id": str(teacher.id), "student_id": str(student.id)},
        )
    row = await relationships.get(conn, link_id)
    assert row is not None
    return _to_model(row)


@router.get("", response_model=Page[Relationship], responses=error_responses(401, 422))
async def list_relationships(
    user: CurrentUser, conn: DbConn, paging: Annotated[PageParams, Depends(page_params)]
) -> Page[Relationship]:
    """The caller's own links (as teacher or student); admins see every link."""
    rows, total = await relationships.list_for(
        conn, None if user.is_admin else user.id, paging.page_size, paging.offset
    )
    return paging.of([_to_model(r) for r in rows], total)


@router.delete(
    "/{relationship_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_relationship(relationship_id: UUID, user: CurrentUser, conn: DbConn) -> Response:
    """Either side ends a link (or an admin): the teacher loses read access at once."""
    row = await relationships.get(conn, relationship_id)
    if row is None or not can_see_link(user, row):
        raise NotFound("relationship_not_found", "No such relationship.")
    if not can_remove_link(user, row):
        raise Forbidden("forbidden", "Only the people in a link or an admin can end it.")
    async with conn.transaction():
        await relationships.delete(conn, relationship_id)
        await audit.record(
            conn,
            "relationship.delete",
            actor=user,
            target_type="relationship",
            target_id=relationship_id,
            details={"teacher_id": str(row.teacher_id), "student_id": str(row.student_id)},
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- requests ---------------------------------------------------------------------------


@router.post(
    "/requests",
    response_model=LinkRequest,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 409, 422),
)
async def request_link(body: LinkRequestCreate, user: CurrentUser, conn: DbConn) -> LinkRequest:
    """A teacher asks the student with this email to link. The answer is the same whether or
    not the address is registered (and as what): the request waits for that student to accept.
    Asking again returns the open request."""
    may_request_links(user)
    email = str(body.student_email).lower()
    existing = await relationships.open_request(conn, user.id, email)
    if existing is not None:
        return _to_request(existing, user)
    if await relationships.count_open_requests(conn, user.id) >= MAX_OPEN_REQUESTS:
        raise Conflict(
            "too_many_link_requests",
            f"At most {MAX_OPEN_REQUESTS} requests can wait at once; cancel some first.",
        )
    async with conn.transaction():
        row = await relationships.create_request(conn, user.id, email)
        await audit.record(
            conn,
            "relationship.request",
            actor=user,
            target_type="link_request",
            target_id=row.id,
            details={"student_email": email},
        )
    return _to_request(row, user)


@router.get("/requests", response_model=Page[LinkRequest], responses=error_responses(401, 422))
async def list_link_requests(
    user: CurrentUser, conn: DbConn, paging: Annotated[PageParams, Depends(page_params)]
) -> Page[LinkRequest]:
    """Teachers: the requests they made. Students: pending requests addressed to them.
    Admins: all."""
    teacher_id = user.id if user.role == "teacher" else None
    email = user.email if user.role == "student" else None
    rows, total = await relationships.list_requests(
        conn,
        teacher_id=teacher_id,
        student_email=email,
        limit=paging.page_size,
        offset=paging.offset,
    )
    return paging.of([_to_request(r, user) for r in rows], total)


async def _visible_request(conn: DbConn, request_id: UUID, user: User) -> LinkRequestRow:
    row = await relationships.get_request(conn, request_id)
    if row is None or not can_see_request(user, row):
        raise NotFound("link_request_not_found", "No such link request.")
    return row


@router.post(
    "/requests/{request_id}/accept",
    response_model=Relationship,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def accept_link_request(request_id: UUID, user: CurrentUser, conn: DbConn) -> Relationship:
    """The addressed student accepts: the link starts now."""
    row = await _visible_request(conn, request_id, user)
    if not can_answer_request(user, row):
        raise Forbidden("not_the_addressee", "Only the student this request is for can accept.")
    async with conn.transaction():
        link_id = await relationships.find_link(conn, row.teacher_id, user.id)
        if link_id is None:
            link_id = await relationships.create(conn, row.teacher_id, user.id, user.id)
        await relationships.answer_request(conn, row.id, "accepted", link_id)
        await audit.record(
            conn,
            "relationship.accept",
            actor=user,
            target_type="relationship",
            target_id=link_id,
            details={"teacher_id": str(row.teacher_id), "request_id": str(row.id)},
        )
    link = await relationships.get(conn, link_id)
    assert link is not None
    return _to_model(link)


@router.post(
    "/requests/{request_id}/decline",
    response_model=LinkRequest,
    responses=error_responses(401, 403, 404, 422),
)
async def decline_link_request(request_id: UUID, user: CurrentUser, conn: DbConn) -> LinkRequest:
    """The addressed student declines; the teacher isn't told (see service/access/links.py)."""
    row = await _visible_request(conn, request_id, user)
    if not can_answer_request(user, row):
        raise Forbidden("not_the_addressee", "Only the student this request is for can decline.")
    async with conn.transaction():
        await relationships.answer_request(conn, row.id, "declined")
        await audit.record(
            conn,
            "relationship.decline",
            actor=user,
            target_type="link_request",
            target_id=row.id,
            details={"teacher_id": str(row.teacher_id)},
        )
    updated = await relationships.get_request(conn, row.id)
    assert updated is not None
    return _to_request(updated, user)


@router.delete(
    "/requests/{request_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def cancel_link_request(request_id: UUID, user: CurrentUser, conn: DbConn) -> Response:
    """The teacher withdraws a request that hasn't been accepted."""
    row = await _visible_request(conn, request_id, user)
    if not can_cancel_request(user, row):
        if row.teacher_id == user.id or user.is_admin:
            raise Conflict("link_request_answered", "This request was accepted or cancelled.")
        raise Forbidden("forbidden", "Only the teacher who asked can cancel a request.")
    async with conn.transaction():
        await relationships.answer_request(conn, row.id, "cancelled")
        await audit.record(
            conn, "relationship.cancel", actor=user, target_type="link_request", target_id=row.id
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
