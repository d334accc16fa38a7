"""Who makes knowledge public. `is_public` (what the scope's read rule, `AccessScope.allows`,
reads) is true only for approved documents: the schema ties it to `publication = 'public'`.

- A teacher asking for `is_public` gets a publication request (`pending_review`); until an admin
  approves it the document is private to its owner (and admins), like any other.
- An admin's own (platform) documents are public as soon as the admin says so.
- Only admins review: approve (`public`) or reject (`rejected`, with a note).
- The owner may withdraw a request or unpublish at any time (`private`).
"""

from __future__ import annotations

from typing import Literal

from service.auth.user import User
from service.core.exceptions import Conflict, Forbidden
from service.repositories.knowledge import DocumentRow

Publication = Literal["private", "pending_review", "public", "rejected"]


def requested(user: User, wants_public: bool) -> Publication:
    """The state a document starts in, or moves to when its owner asks."""
    if not wants_public:
        return "private"
    return "public" if user.is_admin else "pending_review"


def may_review(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("forbidden_role", "Only admins review publication requests.")


def reviewable(doc: DocumentRow) -> None:
    if doc.publication != "pending_review":
        raise Conflict(
            "not_pending_review", f"This document isn't awaiting review ({doc.publication})."
        )
