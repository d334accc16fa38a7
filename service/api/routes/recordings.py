"""Practice recordings: the streamed upload, listing, reading, deleting, and their analysis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.requests import ClientDisconnect

from service.api.deps import (
    BriefUser,
    CallerScope,
    DbConn,
    QueueDep,
    ServicesDep,
    SettingsDep,
    StoreDep,
    charged_brief,
)
from service.core.errors import error_responses
from service.core.exceptions import Invalid
from service.models.recordings import (
    Analysis,
    AnalysisRequested,
    Recording,
    RecordingDetail,
    RecordingListQuery,
    RecordingPage,
    UploadAccepted,
)
from service.recordings import library
from service.recordings.intake import IncomingBody, RecordingIntake
from service.repositories.recordings import RecordingFilter

router = APIRouter(prefix="/api/v1", tags=["recordings"])

# The body is read as it streams (no Form/File parameters, which would buffer it first), so
# the schema is declared here for the API docs.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio"],
                    "properties": {
                        "audio": {
                            "type": "string",
                            "format": "binary",
                            "description": "WAV, MP3 or M4A (judged by its bytes), at most 50 MB",
                        },
                        "metadata": {
                            "type": "string",
                            "description": 'JSON {"originalName", "size", "type", "hash"}; '
                            "hash (SHA-256 hex) and size are checked against the file",
                        },
                    },
                }
            }
        },
    }
}


async def get_intake(services: ServicesDep) -> RecordingIntake:
    return RecordingIntake(services.settings, services.pool, services.store, services.queue)


IntakeDep = Annotated[RecordingIntake, Depends(get_intake)]


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives. A client (or the edge, cutting an oversized body) that goes away
    mid-body is the client's failure, not the server's: nothing is kept, nobody reads the answer."""
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise Invalid("upload_interrupted", "The upload ended before its body did.") from exc


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


@router.post(
    "/upload",
    response_model=UploadAccepted,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 413, 415, 422, 503),
    openapi_extra=_UPLOAD_BODY,
    dependencies=[charged_brief("uploads")],
)
async def upload_recording(request: Request, user: BriefUser, intake: IntakeDep) -> UploadAccepted:
    """Streams the `audio` part to storage; refuses it (and keeps nothing) on the first problem."""
    body = IncomingBody(
        content_type=request.headers.get("content-type"),
        content_length=_content_length(request),
        chunks=_chunks(request),
    )
    row = await intake.receive(body, user.id)
    return UploadAccepted(
        id=row.id,
        original_filename=row.original_filename,
        format=row.format,
        size_bytes=row.size_bytes,
        duration_seconds=row.duration_seconds,
        sample_rate=row.sample_rate,
        channels=row.channels,
    )


@router.get("/recordings", response_model=RecordingPage, responses=error_responses(401, 422))
async def list_recordings(
    params: Annotated[RecordingListQuery, Query()], conn: DbConn, scope: CallerScope
) -> RecordingPage:
    """The caller's recordings (a teacher: also their linked students'; `user_id` narrows)."""
    rows, total = await library.list_recordings(
        conn,
        scope,
        library.RecordingQuery(
            filters=RecordingFilter(
                status=params.status,
                date_from=params.date_from,
                date_to=params.date_to,
                user_id=params.user_id,
            ),
            sort_by=params.sort_by,
            order=params.order,
            limit=params.limit,
            offset=(params.page - 1) * params.limit,
        ),
    )
    return RecordingPage(
        items=[Recording.of(r) for r in rows], total=total, page=params.page, limit=params.limit
    )


@router.get(
    "/recordings/{recording_id}",
    response_model=RecordingDetail,
    responses=error_responses(401, 404, 422),
)
async def get_recording(
    recording_id: UUID, conn: DbConn, scope: CallerScope, settings: SettingsDep, store: StoreDep
) -> RecordingDetail:
    row = await library.visible_recording(conn, scope, recording_id)
    url, expires = library.download_link(
        store, settings.storage.bucket_projects, row, settings.recording.url_ttl_seconds
    )
    return RecordingDetail(
        **Recording.of(row).model_dump(),
        download_url=url,
        download_expires_at=expires,
        analysis_url=f"/api/v1/recordings/{row.id}/analysis" if row.status == "completed" else None,
    )


@router.delete(
    "/recordings/{recording_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def delete_recording(
    recording_id: UUID, conn: DbConn, scope: CallerScope, settings: SettingsDep, store: StoreDep
) -> Response:
    """The audio, the row and the analysis. If storage fails, nothing changes (503; retry)."""
    await library.delete_recording(
        conn, scope, store, settings.storage.bucket_projects, recording_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/recordings/{recording_id}/analyze",
    response_model=AnalysisRequested,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def analyze_recording(
    recording_id: UUID, conn: DbConn, scope: CallerScope, queue: QueueDep
) -> AnalysisRequested:
    """Analyses a completed or failed recording again; 409 while one is queued or running."""
    row = await library.request_analysis(conn, scope, queue, recording_id)
    return AnalysisRequested(id=row.id, status=row.status)


@router.get(
    "/recordings/{recording_id}/analysis",
    response_model=Analysis,
    responses=error_responses(401, 404, 409, 422),
)
async def get_analysis(recording_id: UUID, conn: DbConn, scope: CallerScope) -> Analysis:
    """Scores per dimension for the whole recording and per 3-second segment; 409 (with the
    status) until the analysis has completed."""
    _, analysis = await library.get_analysis(conn, scope, recording_id)
    return Analysis.of(analysis)
