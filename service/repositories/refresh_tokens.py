"""SQL for refresh-token families."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from service.core.db import Conn, fetch_one


async def insert(
    conn: Conn,
    *,
    user_id: UUID | str,
    family_id: UUID | str,
    token_hash: bytes,
    expires_at: datetime,
) -> UUID:
    cur = await conn.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
        "VALUES (%s, %s, %s, %s) RETURNING id",
        (user_id, family_id, token_hash, expires_at),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


@dataclass(frozen=True)
class RefreshTokenRow:
    id: UUID
    user_id: UUID
    family_id: UUID
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    db_now: datetime  # the database's clock, so expiry never depends on the API host's


async def lock_by_hash(conn: Conn, token_hash: bytes) -> RefreshTokenRow | None:
    """Row lock so two concurrent refreshes of one token can't both succeed."""
    return await fetch_one(
        conn,
        RefreshTokenRow,
        "SELECT id, user_id, family_id, expires_at, used_at, revoked_at, now() AS db_now "
        "FROM refresh_tokens WHERE token_hash = %s FOR UPDATE",
        (token_hash,),
    )


async def mark_used(conn: Conn, token_id: UUID, replaced_by: UUID) -> None:
    await conn.execute(
        "UPDATE refresh_tokens SET used_at = now(), replaced_by = %s WHERE id = %s",
        (replaced_by, token_id),
    )


async def revoke_family(conn: Conn, family_id: UUID) -> int:
    cur = await conn.execute(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL",
        (family_id,),
    )
    return cur.rowcount
