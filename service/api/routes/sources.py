"""Deep-link targets for cited sources: the document file, access-checked like search.

Answers link here with `#page=N` (PDF viewers open that page). Uploads redirect to a
short-lived presigned GET; seeded corpus books are served from the shared corpus folder.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response

from service.access.knowledge import visible_document
from service.api.deps import CallerScope, DbConn, SettingsDep, StoreDep
from service.core.errors import error_responses
from service.core.exceptions import NotFound
from service.knowledge.sources import CORPUS_SCHEME

router = APIRouter(prefix="/api/sources", tags=["chat"])

MEDIA_TYPES = {"pdf": "application/pdf", "text": "text/plain; charset=utf-8"}
LINK_TTL_SECONDS = 300


def _corpus_path(corpus_dir: Path, url: str) -> Path:
    root = corpus_dir.resolve()
    path = (root / url.removeprefix(CORPUS_SCHEME)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound("file_missing", "The source file is not available.")
    return path


@router.get(
    "/{document_id}/file",
    responses={
        **error_responses(401, 404, 422, 503),
        200: {"content": {"application/pdf": {}, "text/plain": {}}},
        307: {"description": "Redirect to the stored file"},
    },
)
async def source_file(
    document_id: UUID, scope: CallerScope, conn: DbConn, settings: SettingsDep, store: StoreDep
) -> Response:
    """404 for documents outside the caller's search scope, exactly as if they did not exist."""
    doc = await visible_document(conn, scope, document_id)
    url: str = doc.source_url or ""
    if url.startswith(("http://", "https://")):
        return RedirectResponse(url, status_code=307)
    if url.startswith(CORPUS_SCHEME):
        path = await run_in_threadpool(_corpus_path, Path(settings.local.corpus_dir), url)
        return FileResponse(
            path,
            media_type=MEDIA_TYPES.get(doc.source_type, "application/octet-stream"),
            content_disposition_type="inline",
            filename=doc.filename or path.name,
        )
    if doc.storage_key:
        link = await run_in_threadpool(
            store.presign_get, settings.storage.bucket_knowledge, doc.storage_key, LINK_TTL_SECONDS
        )
        return RedirectResponse(link, status_code=307)
    raise NotFound("file_missing", "The source file is not available.")
