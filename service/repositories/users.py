"""SQL for users. Functions take a connection so callers control the transaction."""

from __future__ import annotations

from typing import Any

from psycopg import errors

from service.core.db import Conn
from service.core.exceptions import Conflict

_COLUMNS = "id, email, display_name, role, password_hash, is_active, created_at"


async def create_user(
    conn: Conn, *, email: str, display_name: str, role: str, password_hash: str | None
) -> dict[str, Any]:
    try:
        cur = await conn.execute(
            f"INSERT INTO users (email, display_name, role, password_hash) VALUES (%s, %s, %s, %s) "  # noqa: S608
            f"RETURNING {_COLUMNS}",
            (email, display_name, role, password_hash),
        )
    except errors.UniqueViolation as exc:
        raise Conflict("email_taken", "An account with this email already exists.") from exc
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_by_email(conn: Conn, email: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE lower(email) = lower(%s)",  # noqa: S608
        (email,),
    )
    return await cur.fetchone()


async def get_by_id(conn: Conn, user_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = %s", (user_id,))  # noqa: S608
    return await cur.fetchone()


async def upsert_external(
    conn: Conn, *, subject: str, email: str, role: str | None
) -> dict[str, Any]:
    """First sight of an IdP user creates the row; later logins keep our role unless the IdP sets one."""
    cur = await conn.execute(
        f"""
        INSERT INTO users (email, display_name, role, auth_subject)
        VALUES (%(email)s, split_part(%(email)s, '@', 1), coalesce(%(role)s, 'student'), %(sub)s)
        ON CONFLICT (auth_subject) DO UPDATE
            SET email = EXCLUDED.email,
                role = coalesce(%(role)s, users.role),
                updated_at = now()
        RETURNING {_COLUMNS}
        """,  # noqa: S608
        {"email": email, "role": role, "sub": subject},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def update_password_hash(conn: Conn, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )
