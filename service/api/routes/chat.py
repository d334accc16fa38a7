"""Questions over the knowledge base (JSON or SSE) and the chat sessions that keep them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sse_starlette import EventSourceResponse

from service.answers.engine import Event, QueryInput, RagEngine
from service.api.deps import (
    AskerDep,
    CurrentUser,
    DbConn,
    EngineDep,
    PoolDep,
    SettingsDep,
    page_params,
)
from service.auth.user import User
from service.core.config import Settings
from service.core.db import Pool
from service.core.errors import error_responses
from service.core.exceptions import Forbidden, NotFound, Unavailable
from service.core.origin_trust import is_from_edge
from service.models.chat import (
    CachePurged,
    ChatMessage,
    ChatSession,
    ChatSessionDetail,
    MessageCreate,
    QueryAnswer,
    QueryRequest,
    SessionCreate,
)
from service.models.common import Page, PageParams
from service.repositories import chat

router = APIRouter(prefix="/api/chat", tags=["chat"])


def accepted_embedding(
    request: Request, settings: Settings, engine: RagEngine, body: QueryRequest
) -> list[float] | None:
    """The Worker's precomputed vector, only with the right secret, model and dimension."""
    if body.query_embedding is None or not is_from_edge(request, settings):
        return None
    if body.embedding_model != engine.embedder.model:
        return None
    if len(body.query_embedding) != engine.embedder.dimensions:
        return None
    return [float(x) for x in body.query_embedding]


def stored_sources(sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sources as a message keeps them: everything but the passage text (the chunk has it)."""
    return [{k: v for k, v in s.items() if k != "text"} for s in sources]


async def _session_history(
    pool: Pool, user: User, body: QueryRequest, history_limit: int
) -> tuple[UUID | None, list[dict[str, str]]]:
    if body.session_id is None:
        return None, []
    async with pool.connection() as conn:
        if await chat.get_session(conn, body.session_id, user.id) is None:
            raise NotFound("session_not_found", "No chat session with that id.")
        history = await chat.recent_history(conn, body.session_id, history_limit)
    return body.session_id, history


async def _persisted(
    events: AsyncIterator[Event], pool: Pool, session_id: UUID | None
) -> AsyncIterator[Event]:
    """Passes events through; stores the assistant turn (with sources) before `done`."""
    sources: list[dict[str, Any]] = []
    async for name, data in events:
        if name == "sources":
            sources = data["sources"]
        if name == "done":
            data = {
                **data,
                "session_id": str(session_id) if session_id else None,
                "message_id": None,
            }
            if session_id is not None:
                async with pool.connection() as conn:
                    row = await chat.add_message(
                        conn,
                        session_id,
                        "assistant",
                        data["answer"],
                        sources=stored_sources(sources),
                        confidence=data["confidence"],
                        provider=data["provider"],
                    )
                data["message_id"] = str(row.id)
        yield name, data


@router.post(
    "/query",
    response_model=QueryAnswer,
    responses={
        **error_responses(401, 403, 404, 422, 503),
        200: {"content": {"text/event-stream": {}}, "description": "JSON, or SSE when stream=true"},
    },
)
async def query(
    body: QueryRequest,
    request: Request,
    asker: AskerDep,  # charged to `rag` too: 50 questions a minute per user by default
    settings: SettingsDep,
    pool: PoolDep,
    engine: EngineDep,
) -> Any:
    """Answer a question from the caller's accessible knowledge, with [n] citations.

    `stream=true` sends SSE events: `sources`, `delta`*, `citation`*, then `done` (or `error`).
    """
    user = asker.user
    session_id, history = await _session_history(pool, user, body, settings.llm.history_messages)
    inp = QueryInput(
        query=body.query,
        user_id=user.id,
        role=user.role,
        top_k=body.top_k,
        history=history,
        query_embedding=accepted_embedding(request, settings, engine, body),
        scope=asker.scope,
    )
    # Before the response starts: a question shed for load is a 503, and isn't kept in the session.
    admitted = await engine.admit(inp)
    if session_id is not None:
        async with pool.connection() as conn:
            await chat.add_message(conn, session_id, "user", body.query)
    events = _persisted(engine.events(inp, admitted), pool, session_id)

    if body.stream:

        async def sse() -> AsyncIterator[dict[str, str]]:
            async for name, data in events:
                if name == "done":
                    data = {k: v for k, v in data.items() if k != "answer"}
                yield {"event": name, "data": json.dumps(data, separators=(",", ":"))}

        return EventSourceResponse(sse(), ping=15, headers={"Cache-Control": "no-store"})

    result: dict[str, Any] = {}
    async for name, data in events:
        if name == "sources":
            result["sources"] = data["sources"]
        elif name == "error":
            raise Unavailable(data["code"], data["message"])
        elif name == "done":
            result.update(data)
    return QueryAnswer(**result)


@router.post(
    "/sessions",
    response_model=ChatSession,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 422),
)
async def create_session(
    user: CurrentUser, conn: DbConn, body: SessionCreate | None = None
) -> ChatSession:
    row = await chat.create_session(
        conn, user.id, (body.title if body and body.title else "New chat")
    )
    return ChatSession.model_validate(row, from_attributes=True)


@router.get("/sessions", response_model=Page[ChatSession], responses=error_responses(401, 422))
async def list_sessions(
    user: CurrentUser, conn: DbConn, paging: Annotated[PageParams, Depends(page_params)]
) -> Page[ChatSession]:
    """The caller's own sessions, most recently active first."""
    rows, total = await chat.list_sessions(conn, user.id, paging.page_size, paging.offset)
    return Page(
        items=[ChatSession.model_validate(r, from_attributes=True) for r in rows],
        total=total,
        page=paging.page,
        page_size=paging.page_size,
    )


@router.get(
    "/sessions/{session_id}",
    response_model=ChatSessionDetail,
    responses=error_responses(401, 404, 422),
)
async def get_session(session_id: UUID, user: CurrentUser, conn: DbConn) -> ChatSessionDetail:
    """Only the owner sees a session (others get 404, so ids don't leak)."""
    row = await chat.get_session(conn, session_id, user.id)
    if row is None:
        raise NotFound("session_not_found", "No chat session with that id.")
    msgs = await chat.messages(conn, session_id)
    return ChatSessionDetail(**asdict(row), messages=msgs)


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 422),
)
async def delete_session(session_id: UUID, user: CurrentUser, conn: DbConn) -> Response:
    if not await chat.delete_session(conn, session_id, user.id):
        raise NotFound("session_not_found", "No chat session with that id.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/messages",
    response_model=ChatMessage,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 404, 422),
)
async def add_message(body: MessageCreate, user: CurrentUser, conn: DbConn) -> ChatMessage:
    """Append a message to one of the caller's sessions (e.g. a note or an edited answer)."""
    if await chat.get_session(conn, body.session_id, user.id) is None:
        raise NotFound("session_not_found", "No chat session with that id.")
    return await chat.add_message(conn, body.session_id, body.role, body.content)


@router.delete(
    "/cache",
    response_model=CachePurged,
    responses=error_responses(401, 403, 422),
)
async def purge_cache(
    user: CurrentUser,
    engine: EngineDep,
    layer: Annotated[str | None, Query(pattern="^(embedding|search|answer)$")] = "answer",
) -> CachePurged:
    """Admins purge a cache layer (default: answers), e.g. after changing the prompt."""
    if not user.is_admin:
        raise Forbidden("forbidden_role", "Only admins can purge caches.")
    purged = await engine.cache.purge(layer)  # type: ignore[arg-type]
    return CachePurged(purged=purged, layer=layer)
