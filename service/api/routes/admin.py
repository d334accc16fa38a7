"""Admin-only endpoints: the publication review queue, role changes and the audit log."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from service.access import publication
from service.api.deps import DbConn, page_params, require_roles
from service.api.routes.knowledge import to_document
from service.auth.user import User
from service.core.errors import error_responses
from service.core.exceptions import Conflict, NotFound
from service.models.admin import AuditEntry, RoleChange
from service.models.common import Page, PageParams
from service.models.knowledge import KnowledgeDocument, PublicationReview
from service.models.users import UserPublic
from service.repositories import audit, users
from service.repositories import knowledge as knowledge_rows

router = APIRouter(
    prefix="/api/admin",
    tags=["admin"],
    dependencies=[Depends(require_roles("admin"))],
    responses=error_responses(401, 403, 422),
)

Admin = Annotated[User, Depends(require_roles("admin"))]


@router.get("/publications", response_model=Page[KnowledgeDocument])
async def list_publications(
    user: Admin,
    conn: DbConn,
    paging: Annotated[PageParams, Depends(page_params)],
    state: Annotated[
        Literal["pending_review", "public", "rejected"], Query(alias="status")
    ] = "pending_review",
) -> Page[KnowledgeDocument]:
    """The review queue (oldest request first), or the published or rejected documents."""
    rows, total = await knowledge_rows.list_by_publication(
        conn, state, paging.page_size, paging.offset
    )
    return paging.of([to_document(r) for r in rows], total)


async def _review(
    conn: DbConn, user: User, document_id: UUID, outcome: str, note: str | None
) -> KnowledgeDocument:
    publication.may_review(user)
    doc = await knowledge_rows.get(conn, document_id)
    if doc is None:
        raise NotFound("document_not_found", "No such knowledge document.")
    publication.reviewable(doc)
    async with conn.transaction():
        row = await knowledge_rows.set_publication(
            conn, document_id, outcome, reviewer=user.id, note=note
        )
        assert row is not None
        await audit.record(
            conn,
            "publication.approve" if outcome == "public" else "publication.reject",
            actor=user,
            target_type="knowledge_document",
            target_id=document_id,
            details={"title": doc.title, "owner_id": str(doc.owner_id), "note": note},
        )
    return to_document(row)


@router.post(
    "/publications/{document_id}/approve",
    response_model=KnowledgeDocument,
    responses=error_responses(404, 409),
)
async def approve_publication(
    document_id: UUID, user: Admin, conn: DbConn, body: PublicationReview | None = None
) -> KnowledgeDocument:
    """Publishes the document: everyone's search and answers include it from now on."""
    return await _review(conn, user, document_id, "public", body.note if body else None)


@router.post(
    "/publications/{document_id}/reject",
    response_model=KnowledgeDocument,
    responses=error_responses(404, 409),
)
async def reject_publication(
    document_id: UUID, user: Admin, conn: DbConn, body: PublicationReview | None = None
) -> KnowledgeDocument:
    """Keeps it private to its owner; the note is shown to them."""
    return await _review(conn, user, document_id, "rejected", body.note if body else None)


@router.put("/users/{user_id}/role", response_model=UserPublic, responses=error_responses(404, 409))
async def change_role(user_id: UUID, body: RoleChange, user: Admin, conn: DbConn) -> UserPublic:
    """Admins change a user's role (audited). Nobody changes their own."""
    if user_id == user.id:
        raise Conflict("own_role", "Ask another admin to change your own role.")
    async with conn.transaction():
        before = await users.get_by_id(conn, str(user_id))
        if before is None:
            raise NotFound("user_not_found", "No such user.")
        row = await users.set_role(conn, user_id, body.role)
        if before.role != body.role:
            await audit.record(
                conn,
                "user.role_change",
                actor=user,
                target_type="user",
                target_id=user_id,
                details={"from": before.role, "to": body.role},
            )
    return UserPublic.model_validate(row)


@router.get("/audit", response_model=Page[AuditEntry])
async def read_audit_log(
    user: Admin,
    conn: DbConn,
    paging: Annotated[PageParams, Depends(page_params)],
    action: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z_]+(\.[a-z_]+)?$")] = None,
    actor_id: UUID | None = None,
) -> Page[AuditEntry]:
    """Newest first; filter by `action` (e.g. `auth.login_failed`) or `actor_id`."""
    rows, total = await audit.page(
        conn, action=action, actor_id=actor_id, limit=paging.page_size, offset=paging.offset
    )
    return paging.of(rows, total)
