"""Loading one knowledge document for a caller: 404 outside their scope, 403 if they can't change it."""

from __future__ import annotations

from uuid import UUID

from service.access.scope import AccessScope
from service.core.db import Conn
from service.core.exceptions import Forbidden, NotFound
from service.repositories import knowledge as repo
from service.repositories.knowledge import DocumentRow


async def visible_document(conn: Conn, scope: AccessScope, document_id: UUID) -> DocumentRow:
    """404 (not 403) outside the scope, exactly as if the document did not exist."""
    doc = await repo.get(conn, document_id)
    if doc is None or not scope.allows(doc.owner_id, doc.is_public):
        raise NotFound("document_not_found", "No such knowledge document.")
    return doc


async def changeable_document(conn: Conn, scope: AccessScope, document_id: UUID) -> DocumentRow:
    """Owners change their documents; platform (ownerless) documents are the admins'."""
    doc = await visible_document(conn, scope, document_id)
    if not scope.can_change(doc.owner_id):
        raise Forbidden("forbidden", "Only the owner or an admin can change this document.")
    return doc
