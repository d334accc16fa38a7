"""The audit log: an append-only record of sensitive actions (the table refuses UPDATE and
DELETE). Each entry names who did what to which object, when, and the request it came from."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from service.auth.user import User
from service.core.db import Conn, columns, fetch_page
from service.core.request_context import current_request_id
from service.models.admin import AuditEntry

_COLUMNS = columns(AuditEntry)  # the response is exactly the row


async def record(
    conn: Conn,
    action: str,
    *,
    actor: User | None,
    target_type: str | None = None,
    target_id: object = None,
    details: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> None:
    """`action` is `<object>.<verb>` (e.g. `relationship.accept`); `details` must never hold a
    secret (a password, a token, an API key)."""
    await conn.execute(
        "INSERT INTO audit_log (actor_id, actor_email, action, target_type, target_id, details, "
        "request_id, client_ip) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            actor.id if actor else None,
            actor.email if actor else None,
            action,
            target_type,
            str(target_id) if target_id is not None else None,
            Jsonb(details or {}),
            current_request_id() or None,
            client_ip,
        ),
    )


async def page(
    conn: Conn,
    *,
    action: str | None,
    actor_id: UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEntry], int]:
    """Newest first."""
    filters = [sql.SQL("TRUE")]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if action:
        filters.append(sql.SQL("action = %(action)s"))
        params["action"] = action
    if actor_id:
        filters.append(sql.SQL("actor_id = %(actor)s"))
        params["actor"] = actor_id
    return await fetch_page(
        conn,
        AuditEntry,
        select=_COLUMNS,
        source=sql.SQL("audit_log"),
        where=sql.SQL(" AND ").join(filters),
        order_by=sql.SQL("at DESC, id DESC"),
        params=params,
    )
