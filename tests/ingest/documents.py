"""Knowledge document rows as tests need them: public platform documents (no owner), inserted
through the repository the API uses, so they start in the state an upload leaves them in."""

from __future__ import annotations

import uuid
from typing import Any

from service.repositories import knowledge as repo


async def platform_document(
    conn: Any,
    source_type: str,
    title: str,
    *,
    source_url: str | None = None,
    filename: str | None = None,
    storage_key: str | None = None,
    document_id: uuid.UUID | None = None,
) -> uuid.UUID:
    doc_id = document_id or uuid.uuid4()
    await repo.create(
        conn,
        document_id=doc_id,
        owner_id=None,
        created_by=None,
        title=title,
        source_type=source_type,
        source_url=source_url,
        filename=filename,
        storage_key=storage_key,
        publication="public",
    )
    return doc_id
