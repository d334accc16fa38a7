"""SQL for chat sessions and their messages. Every read is filtered by owner."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.types.json import Jsonb

from service.core.db import Conn, columns, fetch_all, fetch_count, fetch_new, fetch_one
from service.models.chat import ChatMessage  # a message row is exactly its response


@dataclass(frozen=True)
class SessionRow:
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ListedSession(SessionRow):
    total: int  # all the user's sessions, counted in the same scan


_SESSION = columns(SessionRow)
_MESSAGE = columns(ChatMessage)
_INSERT_MESSAGE = sql.SQL(
    "INSERT INTO chat_messages "
    "(session_id, role, content, sources, confidence, provider, tool_calls) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {}"
).format(_MESSAGE)


async def create_session(conn: Conn, user_id: UUID, title: str) -> SessionRow:
    query = sql.SQL("INSERT INTO chat_sessions (user_id, title) VALUES (%s, %s) RETURNING {}")
    return await fetch_new(conn, SessionRow, query.format(_SESSION), (user_id, title))


async def get_session(conn: Conn, session_id: UUID, user_id: UUID) -> SessionRow | None:
    query = sql.SQL("SELECT {} FROM chat_sessions WHERE id = %s AND user_id = %s")
    return await fetch_one(conn, SessionRow, query.format(_SESSION), (session_id, user_id))


async def list_sessions(
    conn: Conn, user_id: UUID, limit: int, offset: int
) -> tuple[list[ListedSession], int]:
    query = sql.SQL(
        "SELECT {}, count(*) OVER () AS total FROM chat_sessions WHERE user_id = %s "
        "ORDER BY updated_at DESC, id LIMIT %s OFFSET %s"
    ).format(_SESSION)
    rows = await fetch_all(conn, ListedSession, query, (user_id, limit, offset))
    if rows:
        return rows, rows[0].total
    count = "SELECT count(*) FROM chat_sessions WHERE user_id = %s"
    return [], await fetch_count(conn, count, (user_id,))


async def delete_session(conn: Conn, session_id: UUID, user_id: UUID) -> bool:
    cur = await conn.execute(
        "DELETE FROM chat_sessions WHERE id = %s AND user_id = %s", (session_id, user_id)
    )
    return cur.rowcount > 0


async def messages(conn: Conn, session_id: UUID) -> list[ChatMessage]:
    query = sql.SQL("SELECT {} FROM chat_messages WHERE session_id = %s ORDER BY created_at, id")
    return await fetch_all(conn, ChatMessage, query.format(_MESSAGE), (session_id,))


async def recent_history(conn: Conn, session_id: UUID, limit: int) -> list[dict[str, str]]:
    """The last `limit` turns, oldest first, in the {role, content} shape LLM APIs take."""
    if limit <= 0:
        return []
    cur = await conn.execute(
        "SELECT role, content FROM (SELECT role, content, created_at FROM chat_messages "
        "WHERE session_id = %s ORDER BY created_at DESC LIMIT %s) m ORDER BY created_at",
        (session_id, limit),
    )
    return [{"role": r["role"], "content": r["content"]} for r in await cur.fetchall()]


async def add_message(
    conn: Conn,
    session_id: UUID,
    role: str,
    content: str,
    *,
    sources: list[dict[str, Any]] | None = None,
    confidence: str | None = None,
    provider: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> ChatMessage:
    async with conn.transaction():
        params = (
            session_id,
            role,
            content,
            Jsonb(sources or []),
            confidence,
            provider,
            Jsonb(tool_calls or []),
        )
        row = await fetch_new(conn, ChatMessage, _INSERT_MESSAGE, params)
        await conn.execute(
            "UPDATE chat_sessions SET updated_at = now() WHERE id = %s", (session_id,)
        )
    return row
