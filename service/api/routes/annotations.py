"""Annotations on project pages: view rights read and add; authors or editors change and delete."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response, status
from pydantic import BaseModel, ValidationError

from service.access.projects import can_change_annotation, load_project
from service.api.deps import CurrentUser, DbConn
from service.auth.user import User
from service.core.errors import error_responses
from service.core.exceptions import Conflict, Forbidden, Invalid, NotFound
from service.models.annotations import (
    CONTENT_MODELS,
    Annotation,
    AnnotationCreate,
    AnnotationUpdate,
)
from service.models.common import Page, PageParams
from service.repositories import annotations as annotation_rows
from service.repositories import audit
from service.repositories.annotations import AnnotationRow
from service.repositories.projects import ProjectRow

router = APIRouter(prefix="/api/annotations", tags=["annotations"])


def to_annotation(row: AnnotationRow) -> Annotation:
    content = CONTENT_MODELS[row.type].model_validate(row.content)
    return Annotation(**{**asdict(row), "content": content})


def _check_page(project: ProjectRow, page: int) -> None:
    if project.status != "ready":
        raise Conflict("project_not_ready", "Confirm the upload before annotating.")
    assert project.page_count is not None  # confirming the upload counts the pages
    if page > project.page_count:
        raise Invalid(
            "page_out_of_range",
            f"page must be between 1 and {project.page_count} for this project.",
        )


async def _load_for_change(
    conn: DbConn, annotation_id: UUID, user: User
) -> tuple[AnnotationRow, ProjectRow]:
    row = await annotation_rows.get(conn, annotation_id)
    if row is None:
        raise NotFound("annotation_not_found", "No such annotation.")
    project = await _visible_project(conn, row.project_id, user)
    if not can_change_annotation(project.access_level, row.author_id, user):
        raise Forbidden(
            "not_annotation_author", "Only the author or project editors can change this."
        )
    return row, project


async def _visible_project(conn: DbConn, project_id: UUID, user: User) -> ProjectRow:
    try:
        return await load_project(conn, project_id, user, "view")
    except NotFound as exc:  # don't reveal annotations of projects the caller can't see
        raise NotFound("annotation_not_found", "No such annotation.") from exc


@router.post(
    "",
    response_model=Annotation,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def create_annotation(
    body: Annotated[AnnotationCreate, Body()], user: CurrentUser, conn: DbConn
) -> Annotation:
    project = await load_project(conn, body.project_id, user, "view")
    _check_page(project, body.page)
    row = await annotation_rows.create(
        conn,
        project_id=body.project_id,
        author_id=user.id,
        page=body.page,
        type_=body.type,
        content=body.content.model_dump(mode="json", exclude_none=True),
    )
    return to_annotation(row)


@router.get("", response_model=Page[Annotation], responses=error_responses(401, 403, 404, 422))
async def list_annotations(
    user: CurrentUser,
    conn: DbConn,
    project_id: Annotated[UUID, Query()],
    page: Annotated[int | None, Query(ge=1, le=100_000, description="PDF page filter")] = None,
    page_number: Annotated[
        int, Query(ge=1, le=100_000, description="1-based result page (`page` is the PDF page)")
    ] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100)")] = 20,
) -> Page[Annotation]:
    """`page` means the PDF page here, so pagination is `page_number` + `page_size`."""
    await load_project(conn, project_id, user, "view")
    paging = PageParams(page=page_number, page_size=page_size)
    rows, total = await annotation_rows.list_for_project(
        conn, project_id, page, limit=paging.page_size, offset=paging.offset
    )
    return Page(
        items=[to_annotation(r) for r in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get("/{annotation_id}", response_model=Annotation, responses=error_responses(401, 404))
async def get_annotation(annotation_id: UUID, user: CurrentUser, conn: DbConn) -> Annotation:
    row = await annotation_rows.get(conn, annotation_id)
    if row is None:
        raise NotFound("annotation_not_found", "No such annotation.")
    await _visible_project(conn, row.project_id, user)
    return to_annotation(row)


@router.patch(
    "/{annotation_id}",
    response_model=Annotation,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_annotation(
    annotation_id: UUID, body: AnnotationUpdate, user: CurrentUser, conn: DbConn
) -> Annotation:
    row, project = await _load_for_change(conn, annotation_id, user)
    page = body.page if body.page is not None else row.page
    _check_page(project, page)
    content: BaseModel | dict[str, Any] = row.content
    if body.content is not None:
        try:
            content = CONTENT_MODELS[row.type].model_validate(body.content)
        except ValidationError as exc:
            details = [
                {"loc": ["body", "content", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                for err in exc.errors()
            ]
            first = details[0]
            where = ".".join(str(p) for p in first["loc"][1:])
            raise Invalid("validation_error", f"{where}: {first['msg']}", details=details) from exc
    stored = (
        content.model_dump(mode="json", exclude_none=True)
        if isinstance(content, BaseModel)
        else content
    )
    updated = await annotation_rows.update(conn, annotation_id, page=page, content=stored)
    if updated is None:
        raise NotFound("annotation_not_found", "No such annotation.")
    return to_annotation(updated)


@router.delete(
    "/{annotation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404),
)
async def delete_annotation(annotation_id: UUID, user: CurrentUser, conn: DbConn) -> Response:
    row, _ = await _load_for_change(conn, annotation_id, user)
    await annotation_rows.delete(conn, annotation_id)
    if row.author_id != user.id:  # removing someone else's work is worth a record
        await audit.record(
            conn,
            "annotation.delete",
            actor=user,
            target_type="annotation",
            target_id=annotation_id,
            details={"project_id": str(row.project_id), "author_id": str(row.author_id)},
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
