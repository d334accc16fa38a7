"""The feedback report on a recording: read the stored one, or write it and store it.

Reads go through the recording's access check (service/recordings/library.py): whoever may
read the recording may read its report (the student, a linked teacher, an admin); anyone else
gets the recording's 404. Writing a report is a change to the student's data, so it follows
`AccessScope.can_change`: the student (or an admin) writes it; a linked teacher reads the
stored one, whatever its age, and is refused (403) when there is none or when they ask for a
refresh.

Knowledge passages are found with the RAG engine's own retrieval (hybrid search in the
caller's scope), one search per focus area. A stored report keeps each citation's owner, and a
reader is shown only the citations their own scope may read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from service.access.scope import AccessScope, scope_for
from service.answers.confidence import Confidence as Level
from service.answers.confidence import confidence as retrieval_confidence
from service.answers.engine import QueryInput, RagEngine
from service.answers.extractive import best_sentences
from service.answers.sources import deep_link
from service.core.config import Settings
from service.core.db import Pool
from service.core.exceptions import Conflict, Forbidden, NotFound
from service.feedback.findings import Finding, Findings, findings
from service.feedback.plan import Plan, practice_plan
from service.feedback.writer import Prose, ProseRejected, write_prose
from service.models.feedback import (
    Citation,
    Confidence,
    Fallback,
    FeedbackReport,
    Observation,
    PlanItem,
    PracticePlan,
    Versions,
)
from service.models.practice_context import PracticeContext
from service.observability.metrics import FEEDBACK_GENERATION_DURATION
from service.practice_context import read_context
from service.recordings import library
from service.repositories import feedback as repo
from service.repositories.recordings import AnalysisRow, RecordingRow

log = logging.getLogger(__name__)

REPORT_FORMAT = "1"
TEMPLATE_NOTICE = (
    "No language model wrote this: it is assembled from fixed advice per analysed dimension "
    "and from passages quoted from the knowledge base you can read."
)
LLM_NOTICE = (
    "The summary and findings were written by a language model ({provider}, {model}) from the "
    "measured findings; the scores, segments, practice plan and citations are computed, not "
    "generated."
)
_LEVELS: tuple[Level, ...] = ("LOW", "MEDIUM", "HIGH")

Charge = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    role: str


# ---- reading ------------------------------------------------------------------------------


async def feedback_report(
    *,
    settings: Settings,
    pool: Pool,
    engine: RagEngine,
    caller: Caller,
    recording_id: UUID,
    refresh: bool,
    charge: Charge,
) -> FeedbackReport:
    """The stored report while it is fresh (or to a reader who may not write one), otherwise a
    new one. `charge` spends from the caller's feedback budget, only when one is written."""
    async with pool.connection() as conn:
        scope = await scope_for(conn, caller.user_id, caller.role)
        row, analysis = await library.get_analysis(conn, scope, recording_id)
        stored = await repo.get(conn, recording_id)
        context = await read_context(conn, scope, row.user_id)
    may_write = scope.can_change(row.user_id)
    if refresh and not may_write:
        raise Forbidden(
            "feedback_refresh_forbidden",
            "Only the recording's owner can have its report written again; teachers read "
            "their students' stored reports.",
        )
    ttl = timedelta(seconds=settings.feedback.cache_ttl_seconds)
    if stored is not None and stored.analysis_created_at == analysis.created_at:
        fresh = datetime.now(UTC) - stored.generated_at < ttl
        # A reader who may not write gets the stored report whatever its age: an older report
        # beats none, and its generated_at says how old it is.
        if not may_write or (fresh and not refresh):
            return _as_read_by(scope, stored.report, cached=True)
    if not may_write:
        raise Forbidden(
            "feedback_not_generated",
            "There is no feedback report on this recording yet; its owner writes it (teachers "
            "read their students' reports but don't write them).",
        )
    await charge()
    report = await _generate(settings, engine, caller, row, analysis, context, ttl)
    async with pool.connection() as conn:
        saved = await repo.save(
            conn,
            recording_id=row.id,
            user_id=row.user_id,
            analysis_created_at=analysis.created_at,
            mode=report["report"]["versions"]["writer"],
            report=report,
            generated_by=caller.user_id,
            generated_at=datetime.fromisoformat(report["report"]["generated_at"]),
        )
    if not saved:
        raise Conflict(
            "analysis_not_ready",
            "The recording was re-analysed while its report was being written; try again "
            "once the new analysis has completed.",
            details=[{"status": "analyzing"}],
        )
    return _as_read_by(scope, report, cached=False)


async def stored_feedback_report(
    *, pool: Pool, caller: Caller, recording_id: UUID
) -> FeedbackReport:
    """The stored report on the recording's current analysis, whatever its age, without writing
    one: what teachers, dashboards and read-only API keys read. 404 until one is written."""
    async with pool.connection() as conn:
        scope = await scope_for(conn, caller.user_id, caller.role)
        _, analysis = await library.get_analysis(conn, scope, recording_id)
        stored = await repo.get(conn, recording_id)
    if stored is None or stored.analysis_created_at != analysis.created_at:
        raise NotFound(
            "feedback_not_generated",
            "There is no feedback report on this recording's analysis yet; its owner writes one "
            "with POST.",
        )
    return _as_read_by(scope, stored.report, cached=True)


def _as_read_by(scope: AccessScope, stored: dict[str, Any], *, cached: bool) -> FeedbackReport:
    """The report with only the citations `scope` may read (and references to them)."""
    access = {int(k): v for k, v in stored.get("access", {}).items()}
    hidden = {
        n
        for n, a in access.items()
        if not scope.allows(UUID(a["owner_id"]) if a["owner_id"] else None, a["is_public"])
    }
    report = FeedbackReport.model_validate({**stored["report"], "cached": cached})
    if hidden:
        report.citations = [c for c in report.citations if c.n not in hidden]
        for area in report.focus_areas:
            area.citations = [n for n in area.citations if n not in hidden]
        for item in report.practice_plan.items:
            item.citations = [n for n in item.citations if n not in hidden]
    return report


# ---- writing ------------------------------------------------------------------------------


@dataclass
class _Sources:
    citations: list[Citation]
    access: dict[int, dict[str, Any]]
    by_dimension: dict[str, list[int]]
    evidence: list[Level]
    failed: list[str]


async def _search(engine: RagEngine, caller: Caller, found: Findings, per_focus: int) -> _Sources:
    out = _Sources([], {}, {}, [], [])
    by_chunk: dict[int, Citation] = {}
    if per_focus == 0:
        return out
    for f in found.focus:
        query = f.judgement.query
        try:
            r = await engine.retrieve(
                QueryInput(query=query, user_id=caller.user_id, role=caller.role, top_k=per_focus)
            )
        except Exception as exc:  # a failed search leaves that focus area uncited, not the report
            log.warning("feedback knowledge search failed", extra={"error": repr(exc)[:200]})
            out.failed.append(f.dimension)
            out.evidence.append("LOW")
            continue
        out.evidence.append(retrieval_confidence(r.hits))
        numbers: list[int] = []
        for hit in r.hits[:per_focus]:
            if hit.chunk_id in by_chunk:
                known = by_chunk[hit.chunk_id]
                known.supports.append(f.dimension)
                numbers.append(known.n)
                continue
            n = len(out.citations) + 1
            pages = (
                {"start": hit.page_start, "end": hit.page_end or hit.page_start}
                if hit.page_start is not None
                else None
            )
            citation = Citation(
                n=n,
                document_id=hit.document_id,
                title=hit.title,
                page=hit.page_start,
                pages=pages,
                section=hit.section,
                url=deep_link(hit),
                quote=" … ".join(best_sentences(query, hit.content)) or hit.content[:600],
                supports=[f.dimension],
                query=query,
                similarity=round(hit.similarity, 4),
            )
            by_chunk[hit.chunk_id] = citation
            out.citations.append(citation)
            out.access[n] = {
                "owner_id": str(hit.owner_id) if hit.owner_id else None,
                "is_public": hit.is_public,
            }
            numbers.append(n)
        out.by_dimension[f.dimension] = numbers
    return out


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _template_summary(row: RecordingRow, analysis: AnalysisRow, found: Findings) -> str:
    m = analysis.measurements
    facts = [f"{_clock(analysis.duration_seconds)} long"]
    if isinstance(m.get("note_count"), int | float):
        facts.append(f"{int(m['note_count'])} notes")
    if isinstance(m.get("tempo_bpm"), int | float):
        facts.append(f"about {round(m['tempo_bpm'])} BPM")
    parts = [f'"{row.original_filename}": {", ".join(facts)}.']
    if found.focus:
        main = found.focus[0]
        where = f" (most at {', '.join(main.segments[:2])})" if main.segments else ""
        parts.append(f"Main thing to work on: {main.judgement.label}{where}.")
        if len(found.focus) > 1:
            parts.append("Also: " + ", ".join(f.judgement.label for f in found.focus[1:]) + ".")
    else:
        parts.append("None of the judged dimensions needs work in this take.")
    if found.strengths:
        parts.append("Going well: " + ", ".join(f.judgement.label for f in found.strengths) + ".")
    parts.append(
        f"{len(found.measured)} of {len(analysis.scores)} dimensions could be measured by the "
        f"{analysis.analyzer} analyser."
    )
    return " ".join(parts)


def _observation(f: Finding, citations: list[int] | None = None) -> Observation:
    """A focus area when it comes with its citations (possibly none), else a strength."""
    template = (f.judgement.strength if citations is None else f.judgement.focus).format(
        score=f"{f.score:.2f}"
    )
    return Observation(
        dimension=f.dimension,
        label=f.judgement.label,
        score=round(f.score, 4),
        finding=template,
        segments=list(f.segments),
        citations=citations or [],
    )


def _confidence(analysis: AnalysisRow, found: Findings, sources: _Sources) -> Confidence:
    reasons: list[str] = []
    notes = analysis.measurements.get("note_count")
    if isinstance(notes, int | float):
        analysis_level: Level = "HIGH" if notes >= 16 else "MEDIUM" if notes >= 6 else "LOW"
        reasons.append(f"the analysis found {int(notes)} notes")
    else:
        measured = len(found.measured)
        analysis_level = "HIGH" if measured >= 10 else "MEDIUM" if measured >= 4 else "LOW"
        reasons.append(f"{measured} dimensions were measured")
    if not found.focus:
        evidence: Level = analysis_level
        reasons.append("no focus area needed supporting passages")
    else:
        evidence = min(sources.evidence, key=_LEVELS.index) if sources.evidence else "LOW"
        reasons.append(f"the weakest knowledge search for a focus area scored {evidence}")
        if sources.failed:
            reasons.append("a knowledge search failed: " + ", ".join(sources.failed))
        if not sources.citations:
            reasons.append("no passage in your knowledge base matched the focus areas")
    return Confidence(
        level=min(analysis_level, evidence, key=_LEVELS.index),
        analysis=analysis_level,
        evidence=evidence,
        reasons=reasons,
    )


def _plan(plan: Plan, level: str | None, by_dimension: dict[str, list[int]]) -> PracticePlan:
    return PracticePlan(
        minutes_per_day=plan.minutes_per_day,
        minutes_assumed=plan.minutes_assumed,
        level=level,
        adapted_for=list(plan.adapted_for),
        items=[
            PlanItem(
                title=i.title,
                minutes=i.minutes,
                instructions=i.instructions,
                dimension=i.dimension,
                citations=by_dimension.get(i.dimension, []) if i.dimension else [],
            )
            for i in plan.items
        ],
    )


def _findings_for_model(report: FeedbackReport) -> dict[str, Any]:
    keep = ("dimension", "label", "score", "finding", "segments", "citations")
    return {
        "template_summary": report.summary,
        "focus_areas": [o.model_dump(include=set(keep)) for o in report.focus_areas],
        "strengths": [o.model_dump(include=set(keep)) for o in report.strengths],
        "practice_plan": [i.model_dump() for i in report.practice_plan.items],
    }


async def _generate(
    settings: Settings,
    engine: RagEngine,
    caller: Caller,
    row: RecordingRow,
    analysis: AnalysisRow,
    context: PracticeContext,
    ttl: timedelta,
) -> dict[str, Any]:
    """The report as stored: {"report": FeedbackReport JSON, "access": {n: citation owner}}."""
    started = time.perf_counter()
    provider = engine.provider
    mode = "llm" if provider is not None else "template"
    outcome = "error"
    try:
        found = findings(analysis)
        sources = await _search(engine, caller, found, settings.feedback.citations_per_focus)
        tempo = analysis.measurements.get("tempo_bpm")
        plan = practice_plan(
            found.focus,
            minutes=context.practice_minutes_per_day,
            default_minutes=settings.feedback.default_practice_minutes,
            level=context.experience_level,
            constraints=context.constraints,
            tempo_bpm=float(tempo) if isinstance(tempo, int | float) else None,
        )
        now = datetime.now(UTC)
        report = FeedbackReport(
            recording_id=row.id,
            user_id=row.user_id,
            generated_at=now,
            fresh_until=now + ttl,
            notice=TEMPLATE_NOTICE,
            summary=_template_summary(row, analysis, found),
            strengths=[_observation(f) for f in found.strengths],
            focus_areas=[
                _observation(f, sources.by_dimension.get(f.dimension, [])) for f in found.focus
            ],
            practice_plan=_plan(plan, context.experience_level, sources.by_dimension),
            citations=sources.citations,
            not_measured=list(found.unmeasured),
            confidence=_confidence(analysis, found, sources),
            versions=Versions(
                analyzer=analysis.analyzer,
                analyzer_version=analysis.analyzer_version,
                analysis_created_at=analysis.created_at,
                report_format=REPORT_FORMAT,
                writer="template",
                provider="template",
                model=None,
            ),
        )
        outcome = "ok"
        if provider is not None:
            try:
                prose = await write_prose(
                    provider,
                    _findings_for_model(report),
                    [c.model_dump(include={"n", "title", "quote"}) for c in report.citations],
                    timeout_seconds=settings.llm.timeout_seconds,
                )
                _apply(report, prose, provider.name, engine.provider_model)
                engine.hooks.on_llm(provider.name, "ok")
            except Exception as exc:
                # invalid: the model answered, but not with prose the report can use.
                reason = (
                    "timeout"
                    if isinstance(exc, TimeoutError)
                    else "invalid"
                    if isinstance(exc, ProseRejected)
                    else "error"
                )
                log.warning(
                    "feedback prose failed; the template stands",
                    extra={"provider": provider.name, "reason": reason, "error": repr(exc)[:200]},
                )
                engine.hooks.on_llm(provider.name, "ok" if reason == "invalid" else reason)
                engine.hooks.on_fallback(provider.name, reason)
                report.fallback = Fallback(provider=provider.name, reason=f"{reason}: {exc}"[:300])
                outcome = "fallback"
        return {
            "report": report.model_dump(mode="json"),
            "access": {str(n): a for n, a in sources.access.items()},
        }
    finally:
        FEEDBACK_GENERATION_DURATION.labels(mode=mode, outcome=outcome).observe(
            time.perf_counter() - started
        )


def _apply(report: FeedbackReport, prose: Prose, provider: str, model: str) -> None:
    report.summary = prose.summary
    for o in report.focus_areas:
        o.finding = prose.focus_areas.get(o.dimension, o.finding)
    for o in report.strengths:
        o.finding = prose.strengths.get(o.dimension, o.finding)
    report.notice = LLM_NOTICE.format(provider=provider, model=model)
    report.versions.writer = "llm"
    report.versions.provider = provider
    report.versions.model = model
