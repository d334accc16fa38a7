"""Knowledge base: documents teachers and admins add for retrieval, and their processing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, Response, status
from starlette.concurrency import run_in_threadpool

from service.access import publication
from service.access.knowledge import changeable_document, visible_document
from service.api.deps import (
    CallerScope,
    CurrentUser,
    DbConn,
    QueueDep,
    SettingsDep,
    StoreDep,
    charged,
    page_params,
    require_roles,
)
from service.auth.user import User
from service.core.errors import error_responses
from service.core.exceptions import Conflict, Invalid, NotFound
from service.models.common import Page, PageParams
from service.models.knowledge import (
    FILE_TYPES,
    KnowledgeCreate,
    KnowledgeCreated,
    KnowledgeDocument,
    KnowledgeError,
    ProcessingStatus,
    Progress,
    PublicationChange,
    UploadInstructions,
)
from service.repositories import audit
from service.repositories import knowledge as repo
from service.repositories.knowledge import DocumentRow
from service.storage import sanitize_filename

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])

Editor = Annotated[User, Depends(require_roles("teacher", "admin"))]


def knowledge_key(owner_id: UUID | None, document_id: UUID, filename: str) -> str:
    return f"knowledge/{owner_id or 'platform'}/{document_id}/{filename}"


def _progress(row: DocumentRow) -> Progress:
    total, done = row.chunks_total, row.chunks_embedded
    return Progress(
        chunks_embedded=done,
        chunks_total=total,
        percent=round(100.0 * done / total, 1) if total else 0.0,
    )


def _error(row: DocumentRow) -> KnowledgeError | None:
    if row.status != "failed" or not row.error_code:
        return None
    return KnowledgeError(code=row.error_code, message=row.error_message)


def to_document(row: DocumentRow) -> KnowledgeDocument:
    return KnowledgeDocument(
        id=row.id,
        owner_id=row.owner_id,
        title=row.title,
        source_type=row.source_type,
        source_url=row.source_url,
        filename=row.filename,
        is_public=row.is_public,
        publication=row.publication,  # type: ignore[arg-type]
        publication_note=row.publication_note,
        status=row.status,
        progress=_progress(row),
        error=_error(row),
        page_count=row.page_count,
        embedding_model=row.embedding_model,
        embedding_dim=row.embedding_dim,
        processing_started_at=row.processing_started_at,
        processing_finished_at=row.processing_finished_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def to_status(row: DocumentRow) -> ProcessingStatus:
    return ProcessingStatus(
        id=row.id,
        status=row.status,
        progress=_progress(row),
        error=_error(row),
        started_at=row.processing_started_at,
        finished_at=row.processing_finished_at,
        updated_at=row.updated_at,
    )


@router.post(
    "",
    response_model=KnowledgeCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 422),
    dependencies=[charged("uploads")],
)
async def create_document(
    body: KnowledgeCreate, user: Editor, conn: DbConn, settings: SettingsDep, store: StoreDep
) -> KnowledgeCreated:
    """Teachers add their own documents; admins add platform documents (no owner).

    File sources (pdf, text, a youtube transcript) get a presigned PUT URL; upload the file,
    then POST /api/knowledge/{id}/process.
    """
    document_id = uuid4()
    owner_id = None if user.is_admin else user.id
    filename = key = None
    upload = None
    if body.filename is not None and body.file_size is not None:
        limit = settings.storage.upload_max_bytes
        if body.file_size > limit:
            raise Invalid(
                "file_too_large", f"The file is {body.file_size} bytes; the limit is {limit}."
            )
        ext = body.file_extension()
        filename = sanitize_filename(body.filename, suffix=ext)
        key = knowledge_key(owner_id, document_id, filename)
        content_type = FILE_TYPES[body.source_type][ext]
        ttl = settings.storage.presign_ttl_seconds
        url = store.presign_put(
            settings.storage.bucket_knowledge, key, content_type, body.file_size, ttl
        )
        upload = UploadInstructions(
            upload_url=url,
            upload_headers={"Content-Type": content_type, "Content-Length": str(body.file_size)},
            max_bytes=settings.storage.upload_max_bytes,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl),
        )
    row = await repo.create(
        conn,
        document_id=document_id,
        owner_id=owner_id,
        created_by=user.id,
        title=body.title,
        source_type=body.source_type,
        source_url=body.url,
        filename=filename,
        storage_key=key,
        publication=publication.requested(user, body.is_public),
    )
    return KnowledgeCreated(document=to_document(row), upload=upload)


@router.get("", response_model=Page[KnowledgeDocument], responses=error_responses(401, 422))
async def list_documents(
    scope: CallerScope, conn: DbConn, paging: Annotated[PageParams, Depends(page_params)]
) -> Page[KnowledgeDocument]:
    """Students: public + their teachers' documents. Teachers: public + own. Admins: all."""
    rows, total = await repo.list_visible(conn, scope, paging.page_size, paging.offset)
    return paging.of([to_document(r) for r in rows], total)


@router.get(
    "/{document_id}", response_model=KnowledgeDocument, responses=error_responses(401, 404, 422)
)
async def get_document(document_id: UUID, scope: CallerScope, conn: DbConn) -> KnowledgeDocument:
    return to_document(await visible_document(conn, scope, document_id))


@router.delete(
    "/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def delete_document(
    document_id: UUID,
    user: CurrentUser,
    scope: CallerScope,
    conn: DbConn,
    settings: SettingsDep,
    store: StoreDep,
) -> Response:
    """Removes the stored file first (idempotent), then the document and its chunks."""
    doc = await changeable_document(conn, scope, document_id)
    if doc.storage_key:
        await run_in_threadpool(store.delete, settings.storage.bucket_knowledge, doc.storage_key)
    async with conn.transaction():
        await repo.delete(conn, document_id)
        await audit.record(
            conn,
            "knowledge.delete",
            actor=user,
            target_type="knowledge_document",
            target_id=document_id,
            details={"title": doc.title, "owner_id": str(doc.owner_id) if doc.owner_id else None},
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{document_id}/publication",
    response_model=KnowledgeDocument,
    responses=error_responses(401, 403, 404, 422),
)
async def change_publication(
    document_id: UUID, body: PublicationChange, user: CurrentUser, scope: CallerScope, conn: DbConn
) -> KnowledgeDocument:
    """The owner asks to publish (a teacher's request waits for an admin; an admin publishes at
    once) or makes the document private again (withdrawing any request)."""
    doc = await changeable_document(conn, scope, document_id)
    target = publication.requested(user, body.public)
    if body.public and doc.publication == "public":
        return to_document(doc)
    row = await repo.set_publication(conn, document_id, target)
    if row is None:
        raise NotFound("document_not_found", "No such knowledge document.")
    if target == "public" or doc.publication == "public":
        await audit.record(
            conn,
            "knowledge.publish" if target == "public" else "knowledge.unpublish",
            actor=user,
            target_type="knowledge_document",
            target_id=document_id,
        )
    return to_document(row)


@router.post(
    "/{document_id}/process",
    response_model=ProcessingStatus,
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 404, 409, 422, 503),
)
async def process_document(
    document_id: UUID,
    scope: CallerScope,
    conn: DbConn,
    settings: SettingsDep,
    store: StoreDep,
    queue: QueueDep,
) -> ProcessingStatus:
    """Queues (re)processing. The old chunks stay searchable until the new ones replace them."""
    doc = await changeable_document(conn, scope, document_id)
    if doc.storage_key:
        info = await run_in_threadpool(
            store.head, settings.storage.bucket_knowledge, doc.storage_key
        )
        if info is None:
            raise Conflict(
                "upload_missing", "Upload the file to the presigned URL before processing."
            )
        if info.size > settings.storage.upload_max_bytes:
            raise Invalid(
                "file_too_large", f"The file is over {settings.storage.upload_max_bytes} bytes."
            )
    await repo.mark_queued(conn, document_id)
    await queue.enqueue_processing(document_id)
    row = await repo.get(conn, document_id)
    if row is None:
        raise NotFound("document_not_found", "No such knowledge document.")
    return to_status(row)


@router.get(
    "/{document_id}/status",
    response_model=ProcessingStatus,
    responses=error_responses(401, 404, 422),
)
async def document_status(document_id: UUID, scope: CallerScope, conn: DbConn) -> ProcessingStatus:
    return to_status(await visible_document(conn, scope, document_id))
