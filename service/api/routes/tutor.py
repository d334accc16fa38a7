"""The practice tutor: POST /api/v1/chat streams an answer that used tools, and
/api/v1/chat/sessions are the very same sessions as /api/chat/sessions (same handlers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, status
from sse_starlette import EventSourceResponse

from service.answers.engine import Event
from service.answers.providers.base import ToolCallingLLM
from service.api.deps import PoolDep, ServicesDep, charged_brief
from service.api.routes import chat as chat_routes
from service.auth.user import User
from service.core.db import Pool
from service.core.errors import error_responses
from service.core.exceptions import NotFound
from service.models.chat import ChatSession, ChatSessionDetail, TutorRequest
from service.models.common import Page
from service.repositories import chat
from service.tutor.loop import Tutor, TutorInput
from service.tutor.telemetry import metric_hooks

router = APIRouter(prefix="/api/v1/chat", tags=["tutor"])

TITLE_CHARS = 60


async def get_tutor(services: ServicesDep) -> Tutor:
    provider = services.engine.provider
    # Every HTTP provider can call tools; anything else (none configured) means offline.
    tool_calling: ToolCallingLLM | None = provider if hasattr(provider, "turn") else None  # type: ignore[assignment]
    return Tutor(services.settings, services.pool, services.engine, tool_calling, metric_hooks())


TutorDep = Annotated[Tutor, Depends(get_tutor)]


async def _open_session(
    pool: Pool, user: User, body: TutorRequest, history_limit: int
) -> tuple[UUID, list[dict[str, str]]]:
    """The caller's session (a new one, titled after the message, when none is named), its
    recent turns, and the new message stored in it."""
    async with pool.connection() as conn:
        if body.session_id is None:
            title = " ".join(body.message.split())[:TITLE_CHARS] or "Tutor chat"
            session_id = (await chat.create_session(conn, user.id, title)).id
            history: list[dict[str, str]] = []
        else:
            if await chat.get_session(conn, body.session_id, user.id) is None:
                raise NotFound("session_not_found", "No chat session with that id.")
            session_id = body.session_id
            history = await chat.recent_history(conn, session_id, history_limit)
        await chat.add_message(conn, session_id, "user", body.message)
    return session_id, history


async def _stored(
    events: AsyncIterator[Event], pool: Pool, session_id: UUID
) -> AsyncIterator[Event]:
    """Stores the answer with its sources and tool calls before `done` goes out."""
    async for name, data in events:
        if name == "done":
            async with pool.connection() as conn:
                row = await chat.add_message(
                    conn,
                    session_id,
                    "assistant",
                    data["answer"],
                    sources=chat_routes.stored_sources(data["sources"]),
                    confidence=data["confidence"],
                    provider=data["provider"],
                    tool_calls=data["tool_calls"],
                )
            data = {**data, "session_id": str(session_id), "message_id": str(row.id)}
        yield name, data


def _frame(name: str, data: dict[str, Any]) -> dict[str, str]:
    # Every frame's data names its type, so a client reading only `data:` lines (the practice
    # app) picks the `delta` frames' text and stops at [DONE]; richer clients use the names.
    return {"event": name, "data": json.dumps({"type": name, **data}, separators=(",", ":"))}


@router.post(
    "",
    status_code=status.HTTP_200_OK,
    responses={
        **error_responses(401, 404, 422, 429, 503),
        200: {
            "content": {"text/event-stream": {}},
            "description": "SSE: tool_call, tool_result, sources, delta, citation, then done "
            "(or error), then `data: [DONE]`. Every frame's JSON carries `type`.",
        },
    },
)
async def tutor_chat(
    body: TutorRequest,
    user: Annotated[User, charged_brief("tutor")],  # the tutor's own per-user budget
    pool: PoolDep,
    tutor: TutorDep,
) -> EventSourceResponse:
    """Ask the practice tutor. It decides which tools to use (knowledge search, your context,
    your recordings and their analysis), runs them with your rights, and streams the answer."""
    session_id, history = await _open_session(pool, user, body, tutor.settings.llm.history_messages)
    events = _stored(
        tutor.events(TutorInput(body.message, user.id, user.role, history)), pool, session_id
    )

    async def sse() -> AsyncIterator[dict[str, str]]:
        async for name, data in events:
            if name == "done":
                data = {k: v for k, v in data.items() if k not in ("answer", "sources")}
            yield _frame(name, data)
        yield {"data": "[DONE]"}

    return EventSourceResponse(sse(), ping=15, headers={"Cache-Control": "no-store"})


# The same handlers as /api/chat/sessions: one table, one repository, one behaviour.
router.add_api_route(
    "/sessions",
    chat_routes.create_session,
    methods=["POST"],
    response_model=ChatSession,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 422),
    operation_id="create_tutor_session",
)
router.add_api_route(
    "/sessions",
    chat_routes.list_sessions,
    methods=["GET"],
    response_model=Page[ChatSession],
    responses=error_responses(401, 422),
    operation_id="list_tutor_sessions",
)
router.add_api_route(
    "/sessions/{session_id}",
    chat_routes.get_session,
    methods=["GET"],
    response_model=ChatSessionDetail,
    responses=error_responses(401, 404, 422),
    operation_id="get_tutor_session",
)
router.add_api_route(
    "/sessions/{session_id}",
    chat_routes.delete_session,
    methods=["DELETE"],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 422),
    operation_id="delete_tutor_session",
)
