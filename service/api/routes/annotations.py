"""Annotations on project pages: view rights read and add; authors or editors change and delete.

Large content is validated in a worker process and lists are rendered as JSON by PostgreSQL,
so a page full of large drawings never holds the event loop (see service/models/annotations.py).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from service.access.projects import can_change_annotation, load_project
from service.api.deps import CurrentUser, DbConn
from service.auth.user import User
from service.core.errors import error_responses
from service.core.exceptions import Conflict, Forbidden, Invalid, NotFound
from service.core.offload import in_process
from service.models.annotations import (
    MAX_POINTS_PER_PAGE,
    Annotation,
    AnnotationCreate,
    AnnotationUpdate,
    CheckedContent,
    check_content,
    point_count,
)
from service.models.common import Page, PageParams
from service.repositories import annotations as annotation_rows
from service.repositories import audit
from service.repositories.annotations import AnnotationRow
from service.repositories.projects import ProjectRow

router = APIRouter(prefix="/api/annotations", tags=["annotations"])
JSON = "application/json"


def _json(text: str, status_code: int = 200) -> Response:
    return Response(content=text, media_type=JSON, status_code=status_code)


# Bodies above this are checked in the worker process; smaller ones (notes, highlights, sketches)
# take well under a millisecond, less than the trip to the worker.
OFFLOAD_BYTES = 32 * 1024


async def _checked_content(request: Request, type_: str) -> CheckedContent:
    body = await request.body()  # already read (and cached) by FastAPI for the envelope
    loc = ("body", "content")
    if len(body) > OFFLOAD_BYTES:
        checked = await in_process(check_content, type_, body, loc)
    else:
        checked = check_content(type_, body, loc)
    if checked.errors:
        raise RequestValidationError(checked.errors)
    return checked


def _check_page(project: ProjectRow, page: int) -> None:
    if project.status != "ready":
        raise Conflict("project_not_ready", "Confirm the upload before annotating.")
    assert project.page_count is not None  # confirming the upload counts the pages
    if page > project.page_count:
        raise Invalid(
            "page_out_of_range",
            f"page must be between 1 and {project.page_count} for this project.",
        )


async def _check_points(
    conn: DbConn, project_id: UUID, page: int, adding: int, replacing: UUID | None = None
) -> None:
    """Call inside the write's transaction: it locks the page until the write commits."""
    if adding == 0:
        return
    used = await annotation_rows.lock_page_points(conn, project_id, page, excluding=replacing)
    if used + adding > MAX_POINTS_PER_PAGE:
        raise Invalid(
            "page_points_exceeded",
            f"Drawings on one page may hold {MAX_POINTS_PER_PAGE} points in all; this page has "
            f"{used} and the drawing adds {adding}.",
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
    body: Annotated[AnnotationCreate, Body()], request: Request, user: CurrentUser, conn: DbConn
) -> Response:
    project = await load_project(conn, body.project_id, user, "view")
    _check_page(project, body.page)
    content = await _checked_content(request, body.type)
    async with conn.transaction():
        await _check_points(conn, body.project_id, body.page, content.points)
        annotation_id = await annotation_rows.create(
            conn,
            project_id=body.project_id,
            author_id=user.id,
            page=body.page,
            type_=body.type,
            content=content.stored,
        )
    return _json(await annotation_rows.get_json(conn, annotation_id), status.HTTP_201_CREATED)


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
) -> Response:
    """`page` means the PDF page here, so pagination is `page_number` + `page_size`."""
    await load_project(conn, project_id, user, "view")
    paging = PageParams(page=page_number, page_size=page_size)
    items, total = await annotation_rows.list_json(
        conn, project_id, page, limit=paging.page_size, offset=paging.offset
    )
    return _json(
        f'{{"items":{items},"total":{total},"page":{paging.page},"page_size":{paging.page_size}}}'
    )


@router.get("/{annotation_id}", response_model=Annotation, responses=error_responses(401, 404))
async def get_annotation(annotation_id: UUID, user: CurrentUser, conn: DbConn) -> Response:
    row = await annotation_rows.get(conn, annotation_id)
    if row is None:
        raise NotFound("annotation_not_found", "No such annotation.")
    await _visible_project(conn, row.project_id, user)
    return _json(await annotation_rows.get_json(conn, annotation_id))


@router.patch(
    "/{annotation_id}",
    response_model=Annotation,
    responses=error_responses(401, 403, 404, 409, 422),
)
async def update_annotation(
    annotation_id: UUID, body: AnnotationUpdate, request: Request, user: CurrentUser, conn: DbConn
) -> Response:
    row, project = await _load_for_change(conn, annotation_id, user)
    page = body.page if body.page is not None else row.page
    _check_page(project, page)
    stored: str | None = None  # None: the content stays as it is
    points = point_count(row.type, row.content)
    if body.content is not None:
        checked = await _checked_content(request, row.type)
        stored, points = checked.stored, checked.points
    async with conn.transaction():
        await _check_points(conn, row.project_id, page, points, replacing=annotation_id)
        updated = await annotation_rows.update(conn, annotation_id, page=page, content=stored)
    if not updated:
        raise NotFound("annotation_not_found", "No such annotation.")
    return _json(await annotation_rows.get_json(conn, annotation_id))


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
