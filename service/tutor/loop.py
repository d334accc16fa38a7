"""The tutor's loop: the model (or the offline planner) calls tools, then answers.

`events()` yields, as things happen: `tool_call`, `tool_result` (and `sources` after each search
that found passages), `delta`*, `citation`*, then `done` (or `error`). It is bounded: at most
`max_tool_rounds` model turns that call tools, then one that may not, all inside one
deadline. Tool failures and invalid arguments go back to the model as results; a model that
fails or runs out of time is replaced by the offline answer over what the tools found.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from service.access.scope import scope_for
from service.answers.citations import CitationFilter
from service.answers.confidence import confidence
from service.answers.engine import Event, RagEngine
from service.answers.providers.base import (
    AssistantTurn,
    ChatRequest,
    TextDelta,
    ToolCall,
    ToolCallingLLM,
    ToolOutput,
    ToolResults,
    Turn,
    bounded,
)
from service.answers.sources import source_json
from service.core.config import Settings
from service.core.db import Pool
from service.practice_context import read_context
from service.tutor import planner
from service.tutor.compose import compose
from service.tutor.prompt import system_prompt, user_turn
from service.tutor.tools import SPECS, ToolContext, ToolResult, run_tool

log = logging.getLogger(__name__)

FALLBACK_SEPARATOR = (
    "\n\n(The language model stopped early; continuing from what the tools found.)\n"
)


def _noop(*_: object) -> None:
    return None


@dataclass
class TutorHooks:
    on_tool: Callable[[str, str], None] = field(default=_noop)  # tool, outcome
    on_rounds: Callable[[int], None] = field(default=_noop)  # tool rounds in one answer
    on_provider_error: Callable[[str, str], None] = field(default=_noop)  # provider, reason


@dataclass
class TutorInput:
    message: str
    user_id: UUID
    role: str
    history: Sequence[dict[str, str]] = ()


@dataclass
class _Run:
    """What one answer has gathered so far."""

    ctx: ToolContext
    deadline: float  # event-loop time by which the whole answer must be out
    context: dict[str, Any] | None = None
    analyses: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)  # stored with the message
    rounds: int = 0


def _arguments_json(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments[:500]


class Tutor:
    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        engine: RagEngine,
        provider: ToolCallingLLM | None,
        hooks: TutorHooks | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.engine = engine
        self.provider = provider
        self.hooks = hooks or TutorHooks()

    # ---- tools -------------------------------------------------------------------------------

    async def _call(self, run: _Run, call: ToolCall) -> AsyncIterator[Event]:
        """Runs one call; yields its events. The result is left in run.calls[-1]["result"]."""
        arguments = _arguments_json(call.arguments)
        yield "tool_call", {"id": call.id, "name": call.name, "arguments": arguments}
        before = len(run.ctx.book.hits)
        remaining = run.deadline - asyncio.get_running_loop().time()
        try:
            # A tool past the answer's deadline is cut off like a failed one: the model (or the
            # offline answer) goes on with what the other tools found.
            result = await asyncio.wait_for(
                run_tool(run.ctx, call.name, call.arguments), max(remaining, 0.001)
            )
        except TimeoutError:
            result = ToolResult(
                "error", f"{call.name}: timed out", {"error": "The tool ran out of time."}
            )
        self.hooks.on_tool(call.name if call.name in _KNOWN else "unknown", result.outcome)
        self._remember(run, call, result)
        run.calls.append(
            {
                "id": call.id,
                "name": call.name,
                "arguments": arguments,
                "outcome": result.outcome,
                "summary": result.summary,
                "ids": result.ids,
                "result": result,
            }
        )
        yield (
            "tool_result",
            {
                "id": call.id,
                "name": call.name,
                "outcome": result.outcome,
                "summary": result.summary,
                "ids": result.ids,
            },
        )
        if len(run.ctx.book.hits) > before:
            yield "sources", {"sources": run.ctx.book.sources()}

    def _remember(self, run: _Run, call: ToolCall, result: ToolResult) -> None:
        if result.outcome == "ok" and call.name == "get_performance_analysis":
            run.analyses.append(result.data)
        elif result.outcome == "ok" and call.name == "get_user_context" and run.context is None:
            run.context = result.data.get("context")
        elif result.outcome == "ok" and call.name == "search_knowledge_base":
            run.queries.append(str(_arguments_json(call.arguments).get("query", "")))
        elif result.outcome == "not_found" and call.name == "get_performance_analysis":
            run.notes.append("I couldn't find that recording among the ones you can see.")
        elif result.outcome == "not_ready":
            run.notes.append(f"Not ready yet: {result.data.get('error', '')}")

    # ---- the offline planner -----------------------------------------------------------------

    async def _offline_calls(self, run: _Run, message: str) -> AsyncIterator[Event]:
        plan = planner.plan(message)
        n = 0

        def next_call(name: str, args: dict[str, Any]) -> ToolCall:
            nonlocal n
            n += 1
            return ToolCall(f"plan_{n}", name, json.dumps(args))

        # Shown as a call of its own, so the client sees what the answer is fitted to.
        async for ev in self._call(run, next_call("get_user_context", {})):
            yield ev
        ids = list(plan.recording_ids)
        if plan.latest_recording:
            async for ev in self._call(
                run, next_call("list_recordings", {"limit": 1, "status": "completed"})
            ):
                yield ev
            listed = run.calls[-1]["result"]
            ids = [r["id"] for r in listed.data.get("recordings", [])]
            if not ids:
                run.notes.append("You have no analysed recording yet.")
        for recording_id in ids:
            async for ev in self._call(
                run, next_call("get_performance_analysis", {"recording_id": recording_id})
            ):
                yield ev
        weak = [w for a in run.analyses for w in planner.weak_dimensions(a["dimensions"])]
        query = planner.search_query(message, weak)
        async for ev in self._call(run, next_call("search_knowledge_base", {"query": query})):
            yield ev
        run.rounds = 0  # no model rounds: the planner's calls are one fixed sequence

    # ---- the model ---------------------------------------------------------------------------

    async def _model(
        self,
        provider: ToolCallingLLM,
        run: _Run,
        inp: TutorInput,
        emit: Callable[[str], Event | None],
        deadline: float,
    ) -> AsyncIterator[Event]:
        messages: list[Turn] = [*inp.history, user_turn(inp.message)]
        system = system_prompt(run.context)
        max_rounds = self.settings.tutor.max_tool_rounds
        for round_no in range(max_rounds + 1):
            # The last turn may not call tools: the model must answer with what it has.
            may_call = round_no < max_rounds
            text: list[str] = []
            calls: list[ToolCall] = []
            request = ChatRequest(system, messages, SPECS, "auto" if may_call else "none")
            turn = bounded(
                provider.turn(request),
                deadline=deadline,
                first_item_timeout=self.settings.llm.first_token_timeout_seconds,
            )
            async for item in turn:
                if isinstance(item, TextDelta):
                    text.append(item.text)
                    ev = emit(item.text)
                    if ev:
                        yield ev
                elif may_call:
                    calls.append(item)
            if not calls:
                return
            run.rounds += 1
            outputs = []
            for call in calls:
                async for ev in self._call(run, call):
                    yield ev
                result: ToolResult = run.calls[-1]["result"]
                outputs.append(ToolOutput(call, result.content(), result.is_error))
            messages += [AssistantTurn("".join(text), calls), ToolResults(outputs)]

    # ---- the answer --------------------------------------------------------------------------

    async def events(self, inp: TutorInput) -> AsyncIterator[Event]:
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.tutor.deadline_seconds
        try:
            async with self.pool.connection() as conn:
                scope = await scope_for(conn, inp.user_id, inp.role)
                own = await read_context(conn, scope, inp.user_id)
        except Exception as exc:
            log.exception("tutor setup failed")
            yield (
                "error",
                {"code": "tutor_failed", "message": f"Setup failed: {type(exc).__name__}"},
            )
            return
        run = _Run(ToolContext(self.pool, self.engine, inp.user_id, inp.role, scope), deadline)
        # Personalisation: the caller's own context is in the prompt from the first turn.
        run.context = own.model_dump(mode="json", exclude={"updated_at", "user_id"})
        book = run.ctx.book
        cfilter = CitationFilter(0)
        parts: list[str] = []
        timings: dict[str, float] = {}

        def emit(text: str) -> Event | None:
            cfilter.source_count = len(book.hits)
            out = cfilter.feed(text)
            if not out:
                return None
            timings.setdefault("first_delta", (time.perf_counter() - started) * 1000)
            parts.append(out)
            return "delta", {"text": out}

        provider_name = "offline"
        fallback: dict[str, str] | None = None
        if self.provider is not None:
            provider_name = self.provider.name
            try:
                async for ev in self._model(self.provider, run, inp, emit, deadline):
                    yield ev
            except Exception as exc:
                reason = "timeout" if isinstance(exc, TimeoutError) else "error"
                log.warning(
                    "tutor model failed; answering from the tool results",
                    extra={"provider": provider_name, "reason": reason, "error": repr(exc)[:200]},
                )
                self.hooks.on_provider_error(provider_name, reason)
                fallback = {"provider": provider_name, "reason": reason}
                provider_name = "offline"
            if fallback is None and not "".join(parts).strip():
                fallback = {"provider": self.provider.name, "reason": "empty_answer"}
                provider_name = "offline"
        if provider_name == "offline":
            if not any(c["name"] == "search_knowledge_base" for c in run.calls):
                async for ev in self._offline_calls(run, inp.message):
                    yield ev
            if parts:
                separator = emit(FALLBACK_SEPARATOR)
                if separator:
                    yield separator
            query = " ".join(run.queries) or inp.message
            text = compose(inp.message, query, run.context, run.analyses, run.notes, book.hits)
            for line in text.splitlines(keepends=True):
                delta = emit(line)
                if delta:
                    yield delta
        cfilter.source_count = len(book.hits)
        tail = cfilter.flush()
        if tail:
            parts.append(tail)
            yield "delta", {"text": tail}
        for n in cfilter.cited:
            src = source_json(n, book.hits[n - 1])
            yield (
                "citation",
                {
                    "n": n,
                    "chunk_id": src["chunk_id"],
                    "document_id": src["document_id"],
                    "title": src["title"],
                    "page": src["page"],
                    "timestamp_seconds": src["timestamp_seconds"],
                    "url": src["url"],
                },
            )
        self.hooks.on_rounds(run.rounds)
        timings["total"] = (time.perf_counter() - started) * 1000
        yield (
            "done",
            {
                "answer": "".join(parts),
                "confidence": confidence(book.hits),
                "timings_ms": {k: round(v, 2) for k, v in timings.items()},
                "tools_used": list(dict.fromkeys(c["name"] for c in run.calls)),
                "tool_rounds": run.rounds,
                "provider": provider_name,
                "extractive": provider_name == "offline",
                "fallback": fallback,
                "citations": list(cfilter.cited),
                "sources": book.sources(),
                "tool_calls": [{k: v for k, v in c.items() if k != "result"} for c in run.calls],
            },
        )


_KNOWN = {s.name for s in SPECS}
