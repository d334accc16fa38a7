"""SQL for personal API keys. Only a SHA-256 of each key is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from psycopg import sql

from service.core.db import Conn, columns, fetch_count, fetch_new, fetch_one, fetch_page

Scope = Literal["read", "write"]


@dataclass(frozen=True)
class ApiKeyRow:
    id: UUID
    user_id: UUID
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeyOwner:
    key_id: UUID
    scope: Scope
    user_id: UUID
    email: str
    display_name: str
    role: str
    is_active: bool
    stale: bool  # last use recorded more than a minute ago (or never)


_COLUMNS = columns(ApiKeyRow)
_INSERT = sql.SQL(
    "INSERT INTO api_keys (user_id, name, scope, prefix, key_hash) VALUES (%s, %s, %s, %s, %s) "
    "RETURNING {}"
).format(_COLUMNS)
_OWNER = """
SELECT k.id AS key_id, k.scope, u.id AS user_id, u.email, u.display_name, u.role, u.is_active,
       (k.last_used_at IS NULL OR k.last_used_at < now() - interval '60 seconds') AS stale
  FROM api_keys k JOIN users u ON u.id = k.user_id
 WHERE k.key_hash = %s AND k.revoked_at IS NULL
"""


async def create(
    conn: Conn, *, user_id: UUID, name: str, scope: str, prefix: str, key_hash: bytes
) -> ApiKeyRow:
    return await fetch_new(conn, ApiKeyRow, _INSERT, (user_id, name, scope, prefix, key_hash))


async def owner_of(conn: Conn, key_hash: bytes) -> KeyOwner | None:
    return await fetch_one(conn, KeyOwner, _OWNER, (key_hash,))


async def touch(conn: Conn, key_id: UUID) -> None:
    """Records a use; called at most about once a minute per key, so scripts don't turn every
    request into a write."""
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (key_id,))


async def list_for_user(
    conn: Conn, user_id: UUID, limit: int, offset: int
) -> tuple[list[ApiKeyRow], int]:
    return await fetch_page(
        conn,
        ApiKeyRow,
        select=_COLUMNS,
        source=sql.SQL("api_keys"),
        where=sql.SQL("user_id = %(user)s"),
        order_by=sql.SQL("created_at DESC, id"),
        params={"user": user_id, "limit": limit, "offset": offset},
    )


async def count_active(conn: Conn, user_id: UUID) -> int:
    return await fetch_count(
        conn, "SELECT count(*) FROM api_keys WHERE user_id = %s AND revoked_at IS NULL", (user_id,)
    )


async def revoke(conn: Conn, key_id: UUID, user_id: UUID) -> ApiKeyRow | None:
    """The caller's own key, revoked now (or as it was, if already revoked); None: not theirs."""
    query = sql.SQL(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
        "WHERE id = %s AND user_id = %s RETURNING {}"
    ).format(_COLUMNS)
    return await fetch_one(conn, ApiKeyRow, query, (key_id, user_id))
