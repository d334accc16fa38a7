"""SQL for users. Functions take a connection so callers control the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg import errors, sql

from service.auth.identity import Role
from service.core.db import Conn, Statement, columns, fetch_all, fetch_new, fetch_one, run
from service.core.exceptions import Conflict


@dataclass(frozen=True)
class UserRow:
    id: UUID
    email: str
    display_name: str
    role: Role
    password_hash: str | None
    is_active: bool
    created_at: datetime


_COLUMNS = columns(UserRow)
_INSERT = sql.SQL(
    "INSERT INTO users (email, display_name, role, password_hash) VALUES (%s, %s, %s, %s) "
    "RETURNING {}"
).format(_COLUMNS)
_BY_EMAIL = sql.SQL("SELECT {} FROM users WHERE lower(email) = lower(%s)").format(_COLUMNS)
_BY_ID = sql.SQL("SELECT {} FROM users WHERE id = %s").format(_COLUMNS)
_UPSERT_EXTERNAL = sql.SQL(
    """
    INSERT INTO users (email, display_name, role, auth_subject)
    VALUES (%(email)s, split_part(%(email)s, '@', 1), coalesce(%(role)s, 'student'), %(sub)s)
    ON CONFLICT (auth_subject) DO UPDATE
        SET email = EXCLUDED.email,
            role = coalesce(%(role)s, users.role),
            updated_at = now()
    RETURNING {}
    """
).format(_COLUMNS)


async def create_user(
    conn: Conn, *, email: str, display_name: str, role: str, password_hash: str | None
) -> UserRow:
    try:
        return await fetch_new(conn, UserRow, _INSERT, (email, display_name, role, password_hash))
    except errors.UniqueViolation as exc:
        raise Conflict("email_taken", "An account with this email already exists.") from exc


async def get_by_email(conn: Conn, email: str) -> UserRow | None:
    return await fetch_one(conn, UserRow, _BY_EMAIL, (email,))


def by_id(user_id: str) -> Statement[UserRow | None]:
    return Statement(_BY_ID, (user_id,), lambda rows: UserRow(**rows[0]) if rows else None)


async def get_by_id(conn: Conn, user_id: str) -> UserRow | None:
    return await run(conn, by_id(user_id))


async def get_many(conn: Conn, user_ids: Iterable[UUID]) -> list[UserRow]:
    query = sql.SQL("SELECT {} FROM users WHERE id = ANY(%s) ORDER BY email").format(_COLUMNS)
    return await fetch_all(conn, UserRow, query, (list(user_ids),))


async def upsert_external(conn: Conn, *, subject: str, email: str, role: str | None) -> UserRow:
    """First sight of an IdP user creates the row; later logins keep our role unless the IdP sets one."""
    params = {"email": email, "role": role, "sub": subject}
    return await fetch_new(conn, UserRow, _UPSERT_EXTERNAL, params)


async def update_password_hash(conn: Conn, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
        (password_hash, user_id),
    )


async def set_role(conn: Conn, user_id: UUID, role: str) -> UserRow:
    query = sql.SQL("UPDATE users SET role = %s, updated_at = now() WHERE id = %s RETURNING {}")
    return await fetch_new(conn, UserRow, query.format(_COLUMNS), (role, user_id))
