from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, status

from service.access.links import can_remove_link, can_see_link, teacher_to_link
from service.api.deps import CurrentUser, DbConn, page_params
from service.core.errors import error_responses
from service.core.exceptions import Forbidden, Invalid, NotFound
from service.models.common import Page, PageParams
from service.models.relationships import Relationship, RelationshipCreate
from service.models.users import UserSummary
from service.repositories import relationships, users
from service.repositories.relationships import LinkRow

router = APIRouter(prefix="/api/relationships", tags=["relationships"])


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


@router.post(
    "",
    response_model=Relationship,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def create_relationship(
    body: RelationshipCreate, user: CurrentUser, conn: DbConn
) -> Relationship:
    """A teacher links a student to themself; an admin links any teacher-student pair."""
    teacher_id = teacher_to_link(user, body.teacher_id)
    if teacher_id is None:
        raise Invalid("teacher_required", "Admins must give teacher_id.")
    if user.is_admin:  # a teacher links to themself; an admin's choice must be a teacher
        teacher = await users.get_by_id(conn, str(teacher_id))
        if teacher is None:
            raise NotFound("user_not_found", "No user with that teacher_id.")
        if teacher.role != "teacher":
            raise Invalid("not_a_teacher", "teacher_id does not belong to a teacher.")
        teacher_id = teacher.id

    if body.student_id is not None:
        student = await users.get_by_id(conn, str(body.student_id))
    else:
        student = await users.get_by_email(conn, str(body.student_email))
    if student is None:
        raise NotFound("user_not_found", "No such student.")
    if student.role != "student":
        raise Invalid("not_a_student", "The linked user must have the student role.")

    link_id = await relationships.create(conn, teacher_id, student.id, user.id)
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
    return Page(
        items=[_to_model(r) for r in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.delete(
    "/{relationship_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 422),
)
async def delete_relationship(relationship_id: UUID, user: CurrentUser, conn: DbConn) -> None:
    row = await relationships.get(conn, relationship_id)
    if row is None or not can_see_link(user, row):
        raise NotFound("relationship_not_found", "No such relationship.")
    if not can_remove_link(user, row):
        raise Forbidden("forbidden", "Only the teacher in a link or an admin can remove it.")
    await relationships.delete(conn, relationship_id)
