"""Who sees which knowledge documents: one rule, used by the list, get and search paths."""

from __future__ import annotations

from typing import Any

from service.auth.user import User
from service.core.db import Conn
from service.core.exceptions import Forbidden, NotFound
from service.repositories import knowledge as repo
from service.repositories.knowledge import Scope
from service.repositories.relationships import teacher_ids_of_student


async def scope_for(conn: Conn, user: User) -> Scope:
    """Admins: everything. Teachers: public + their own. Students: public + linked teachers'."""
    if user.is_admin:
        return Scope(everything=True)
    if user.role == "teacher":
        return Scope(everything=False, owner_ids=[user.id])
    return Scope(everything=False, owner_ids=await teacher_ids_of_student(conn, user.id))


def can_see(scope: Scope, doc: dict[str, Any]) -> bool:
    return scope.everything or doc["is_public"] or doc["owner_id"] in scope.owner_ids


def can_manage(user: User, doc: dict[str, Any]) -> bool:
    """Owners manage their documents; platform (ownerless) documents are the admins'."""
    return user.is_admin or (doc["owner_id"] is not None and doc["owner_id"] == user.id)


async def load_visible(conn: Conn, user: User, document_id: Any) -> dict[str, Any]:
    doc = await repo.get(conn, document_id)
    if doc is None or not can_see(await scope_for(conn, user), doc):
        raise NotFound("document_not_found", "No such knowledge document.")
    return doc


async def load_managed(conn: Conn, user: User, document_id: Any) -> dict[str, Any]:
    doc = await load_visible(conn, user, document_id)
    if not can_manage(user, doc):
        raise Forbidden("forbidden", "Only the owner or an admin can change this document.")
    return doc
