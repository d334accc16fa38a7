"""Practice feedback: the structured, cited report on an analysed recording."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request

from service.api.deps import BriefUser, EngineDep, PoolDep, RateLimitsDep, SettingsDep, spend
from service.core.errors import error_responses
from service.feedback.report import Caller, feedback_report, stored_feedback_report
from service.models.feedback import FeedbackQuery, FeedbackReport

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])


@router.post(
    "/{recording_id}",
    response_model=FeedbackReport,
    responses=error_responses(401, 403, 404, 409, 422, 429, 503),
)
async def create_feedback(
    recording_id: UUID,
    params: Annotated[FeedbackQuery, Query()],
    request: Request,
    user: BriefUser,
    pool: PoolDep,
    engine: EngineDep,
    settings: SettingsDep,
    limits: RateLimitsDep,
) -> FeedbackReport:
    """The report on a completed analysis: the stored one while it is fresh (6 h by default),
    otherwise written now, which spends one from the caller's `feedback` budget. 409 (with the
    recording's status) until the analysis has completed. A linked teacher reads their
    student's stored report; only the recording's owner writes one. No connection is held
    while the report is written (an LLM may take seconds)."""

    async def charge() -> None:
        async with pool.connection() as conn:
            await spend(request, limits, conn, ["feedback"], user)

    return await feedback_report(
        settings=settings,
        pool=pool,
        engine=engine,
        caller=Caller(user.id, user.role),
        recording_id=recording_id,
        refresh=params.refresh,
        charge=charge,
    )


@router.get(
    "/{recording_id}",
    response_model=FeedbackReport,
    responses=error_responses(401, 404, 409, 422),
)
async def read_feedback(recording_id: UUID, user: BriefUser, pool: PoolDep) -> FeedbackReport:
    """The stored report, as it was written (any age), for whoever may see the recording: its
    owner, a linked teacher, an admin, or a read-only API key. Never writes one or spends from
    the feedback budget: 404 `feedback_not_generated` until the owner has had one written."""
    return await stored_feedback_report(
        pool=pool, caller=Caller(user.id, user.role), recording_id=recording_id
    )
