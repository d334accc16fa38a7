"""Projects: a PDF in object storage, uploaded by the client straight to a presigned URL."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from service.access.projects import load_project
from service.api.deps import (
    BriefUser,
    CurrentUser,
    DbConn,
    PoolDep,
    SettingsDep,
    StoreDep,
    charged,
    page_params,
)
from service.core.errors import error_responses
from service.core.exceptions import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
)
from service.core.origin_trust import is_from_edge, origin_trust_enabled
from service.models.common import Page, PageParams
from service.models.projects import (
    Ownership,
    Project,
    ProjectCreate,
    ProjectCreated,
    ProjectDetail,
    ProjectUpdate,
    StreamAuthorization,
    UploadInstructions,
)
from service.projects.pdf_check import UploadRejected, inspect_upload
from service.repositories import audit, projects
from service.repositories.projects import ProjectRow
from service.storage import (
    ObjectChanged,
    StorageUnavailable,
    project_key,
    sanitize_filename,
    upload_key,
)

router = APIRouter(prefix="/api/projects", tags=["projects"])

PDF = "application/pdf"


def to_project(row: ProjectRow) -> Project:
    assert row.access_level is not None  # resolved for the caller before a project is shown
    return Project(
        id=row.id,
        owner_id=row.owner_id,
        title=row.title,
        description=row.description,
        filename=row.filename,
        status=row.status,
        page_count=row.page_count,
        file_size=row.file_size,
        pdf_title=row.pdf_title,
        access=row.access_level,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post(
    "",
    response_model=ProjectCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 422),
    dependencies=[charged("uploads")],
)
async def create_project(
    body: ProjectCreate, user: CurrentUser, conn: DbConn, settings: SettingsDep, store: StoreDep
) -> ProjectCreated:
    """Creates a pending project and a presigned PUT URL for exactly `file_size` bytes of PDF;
    then PUT the PDF and call confirm."""
    limit = settings.storage.upload_max_bytes
    if body.file_size > limit:
        raise Invalid(
            "file_too_large", f"The file is {body.file_size} bytes; the limit is {limit}."
        )
    project_id = uuid4()
    filename = sanitize_filename(body.filename)
    key = project_key(user.id, project_id, filename)
    ttl = settings.storage.presign_ttl_seconds
    url = store.presign_put(  # local signing, no I/O
        settings.storage.bucket_projects, upload_key(key), PDF, body.file_size, ttl
    )
    row = await projects.create(
        conn,
        project_id=project_id,
        owner_id=user.id,
        title=body.title,
        description=body.description,
        filename=filename,
        storage_key=key,
    )
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    return ProjectCreated(
        project=to_project(row),
        upload_url=url,
        expires_at=expires_at,
        upload=UploadInstructions(
            upload_url=url,
            upload_headers={"Content-Type": PDF, "Content-Length": str(body.file_size)},
            max_bytes=settings.storage.upload_max_bytes,
            expires_at=expires_at,
        ),
    )


@router.post(
    "/{project_id}/confirm",
    response_model=Project,
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def confirm_upload(
    project_id: UUID, user: BriefUser, pool: PoolDep, settings: SettingsDep, store: StoreDep
) -> Project:
    """Checks the uploaded object, copies exactly that version to the project's own key (which no
    upload URL can write: the confirmed file is immutable) and makes the project ready. A rejected
    object is deleted. No pooled connection is held while the PDF is downloaded and parsed."""
    async with pool.connection() as conn:
        row = await load_project(conn, project_id, user, "owner")
    if row.status == "ready":
        return to_project(row)  # confirming twice is harmless
    bucket, upload = settings.storage.bucket_projects, upload_key(row.storage_key)
    try:
        facts = await run_in_threadpool(
            inspect_upload, store, bucket, upload, settings.storage.upload_max_bytes
        )
    except UploadRejected as rejected:
        if rejected.object_exists:
            await run_in_threadpool(store.delete, bucket, upload)
        raise Invalid(rejected.code, rejected.message) from rejected
    try:
        final = await run_in_threadpool(
            partial(store.copy, bucket, upload, row.storage_key, if_etag=facts.etag)
        )
    except ObjectChanged as changed:
        raise Conflict(
            "upload_changed", "The file was replaced while it was checked; confirm again."
        ) from changed
    async with pool.connection() as conn:
        await projects.mark_ready(
            conn,
            project_id,
            page_count=facts.page_count,
            file_size=final.size,
            etag=final.etag,
            pdf_title=facts.title,
        )
        current = await projects.get_for_user(conn, project_id, user.id)
    if current is None or current.status == "deleting":
        # Deleted while it was checked: the copy must not outlive it.
        await run_in_threadpool(store.delete, bucket, row.storage_key)
        raise NotFound("project_not_found", "The project was deleted.")
    with contextlib.suppress(StorageUnavailable):  # the cleanup job removes it otherwise
        await run_in_threadpool(store.delete, bucket, upload)
    return to_project(replace(current, access_level=row.access_level))


@router.get("", response_model=Page[Project], responses=error_responses(401, 422))
async def list_projects(
    user: CurrentUser,
    conn: DbConn,
    paging: Annotated[PageParams, Depends(page_params)],
    ownership: Annotated[
        Ownership, Query(description="owned, shared with me, or all I may see")
    ] = "all",
) -> Page[Project]:
    """Owned and shared projects; admins see every project with ownership=all."""
    rows, total = await projects.list_for_user(
        conn,
        user.id,
        ownership=ownership,
        see_all=user.is_admin,
        limit=paging.page_size,
        offset=paging.offset,
    )
    items = [
        # No level: an admin looking at someone else's project.
        to_project(r if r.access_level else replace(r, access_level="admin"))
        for r in rows
    ]
    return paging.of(items, total)


@router.get("/{project_id}", response_model=ProjectDetail, responses=error_responses(401, 403, 404))
async def get_project(
    project_id: UUID, user: CurrentUser, conn: DbConn, settings: SettingsDep, store: StoreDep
) -> ProjectDetail:
    row = await load_project(conn, project_id, user, "view")
    url, expires = None, None
    if row.status == "ready":
        ttl = settings.storage.presign_ttl_seconds
        url = store.presign_get(
            settings.storage.bucket_projects, row.storage_key, ttl, download_name=row.filename
        )
        expires = datetime.now(UTC) + timedelta(seconds=ttl)
    return ProjectDetail(
        **to_project(row).model_dump(), download_url=url, download_expires_at=expires
    )


@router.patch(
    "/{project_id}", response_model=Project, responses=error_responses(401, 403, 404, 422)
)
async def update_project(
    project_id: UUID, body: ProjectUpdate, user: CurrentUser, conn: DbConn
) -> Project:
    await load_project(conn, project_id, user, "edit")
    fields = body.model_dump(exclude_unset=True)
    if fields.get("title", "") is None:
        raise Invalid("title_required", "The title can't be removed.")
    if fields:
        await projects.update_fields(conn, project_id, fields)
    return to_project(await load_project(conn, project_id, user, "view"))


@router.delete(
    "/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 503),
)
async def delete_project(
    project_id: UUID, user: CurrentUser, conn: DbConn, settings: SettingsDep, store: StoreDep
) -> Response:
    """Owner only. The file goes first; if storage fails nothing changes (503, retry safely)."""
    row = await load_project(conn, project_id, user, "owner", allow_deleting=True)
    previous = row.status
    await projects.set_status(conn, project_id, "deleting")  # hides it while the file goes
    bucket = settings.storage.bucket_projects
    try:
        await run_in_threadpool(store.delete, bucket, row.storage_key)
        await run_in_threadpool(store.delete, bucket, upload_key(row.storage_key))
    except StorageUnavailable:
        if previous != "deleting":
            await projects.set_status(conn, project_id, previous)
        raise
    await projects.delete(conn, project_id)  # cascades to access rows and annotations
    await audit.record(
        conn,
        "project.delete",
        actor=user,
        target_type="project",
        target_id=project_id,
        details={"title": row.title},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{project_id}/stream-authorization",
    response_model=StreamAuthorization,
    responses=error_responses(401, 403, 404, 409),
)
async def stream_authorization(
    project_id: UUID,
    request: Request,
    user: CurrentUser,
    conn: DbConn,
    settings: SettingsDep,
    x_origin_secret: Annotated[str | None, Header()] = None,
) -> StreamAuthorization:
    """For the edge Worker: may this caller stream this PDF from the R2 binding, and which key."""
    if not origin_trust_enabled(settings):
        raise NotFound("feature_disabled", "Edge streaming is not configured.")
    if not x_origin_secret:
        raise Unauthenticated("origin_secret_missing", "X-Origin-Secret is required.")
    if not is_from_edge(request, settings):  # current or previous secret, constant-time
        raise Forbidden("origin_secret_invalid", "X-Origin-Secret does not match.")
    row = await load_project(conn, project_id, user, "view")
    if row.status != "ready":
        raise Conflict("project_not_ready", "The project's upload hasn't been confirmed.")
    assert row.file_size is not None and row.etag is not None  # confirming the upload sets both
    return StreamAuthorization(
        key=row.storage_key, filename=row.filename, size=row.file_size, etag=row.etag
    )
