"""A question's caller, their charges and their scope come from one round trip to the database,
and the answer is the same as reading them one after another: the caller's row is judged before
the charges, and the scope is used only when the row's role is the one the token claims."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from fastapi.security import HTTPAuthorizationCredentials
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request

from service.api.deps import Asker, get_asker, get_current_user
from service.auth.provider import AuthContext, build_auth
from service.cache.generations import scope_with_generations
from service.core.config import Settings
from service.core.exceptions import ServiceError
from service.core.ratelimit_headers import STATE_KEY
from service.ratelimit import RateLimits
from tests.conftest import make_settings


class CountingConnection(psycopg.AsyncConnection[Any]):
    """Counts round trips: a statement sent alone is one, a pipeline of them is one."""

    round_trips = 0
    _in_pipeline = False

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        if not self._in_pipeline:
            CountingConnection.round_trips += 1
        return await super().execute(*args, **kwargs)

    @asynccontextmanager
    async def pipeline(self) -> AsyncIterator[Any]:
        CountingConnection.round_trips += 1
        self._in_pipeline = True
        try:
            async with super().pipeline() as p:
                yield p
        finally:
            self._in_pipeline = False


def _user(url: str, role: str) -> uuid.UUID:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO users (email, display_name, role) VALUES (%s, 'x', %s) RETURNING id",
            (f"{role}-{uuid.uuid4().hex[:8]}@example.com", role),
        ).fetchone()
    assert row is not None
    return row[0]


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/api/chat/query", "headers": []})


def _bearer(auth: AuthContext, user_id: uuid.UUID, role: str) -> HTTPAuthorizationCredentials:
    assert auth.sessions is not None
    token, _ = auth.sessions.tokens.issue_access_token(str(user_id), "x@example.com", role)
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)


# token's role, the row's change after the token was issued, bucket empty first ->
# (what the caller gets: a role or an error code, scope read with the caller, round trips)
CASES: dict[str, tuple[str, str | None, bool, tuple[str, bool, int]]] = {
    "student": ("student", None, False, ("student", True, 1)),
    "teacher": ("teacher", None, False, ("teacher", True, 1)),
    "admin": ("admin", None, False, ("admin", True, 1)),
    "student made teacher since the token": ("student", "role = 'teacher'", False, ("teacher", False, 1)),
    "disabled student": ("student", "is_active = false", False, ("account_disabled", False, 1)),
    "disabled student, bucket empty": ("student", "is_active = false", True, ("account_disabled", False, 1)),
    "student, bucket empty": ("student", None, True, ("rate_limited", False, 2)),
    "deleted user": ("student", "DELETE", False, ("user_not_found", False, 1)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_questions_caller_charges_and_scope_in_one_round_trip(
    clean_db: str, tmp_path: Any, case: str
) -> None:
    role, change, empty_first, (expected, with_scope, trips) = CASES[case]
    settings: Settings = make_settings(clean_db, tmp_path, rate_limit_rag="1/minute")
    auth, limits = build_auth(settings), RateLimits(settings.rate_limit)
    user_id = _user(clean_db, role)
    credentials = _bearer(auth, user_id, role)

    async def ask(pool: AsyncConnectionPool[Any]) -> Asker | str:
        try:
            return await get_asker(_request(), pool, auth, limits, credentials, None)
        except ServiceError as exc:
            return exc.code

    async def run() -> tuple[Asker | str, int, Any]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            clean_db,
            kwargs={"autocommit": True, "row_factory": dict_row},
            connection_class=CountingConnection,
            min_size=1,
            open=False,
        )
        await pool.open(wait=True)
        try:
            if empty_first:
                assert isinstance(await ask(pool), Asker)
            if change == "DELETE":
                with psycopg.connect(clean_db, autocommit=True) as conn:
                    conn.execute("DELETE FROM users WHERE id = %s", (user_id,))
            elif change:
                with psycopg.connect(clean_db, autocommit=True) as conn:
                    conn.execute(f"UPDATE users SET {change} WHERE id = %s", (user_id,))  # noqa: S608 - the table's own literals
            CountingConnection.round_trips = 0
            got = await ask(pool)
            counted = CountingConnection.round_trips
            async with pool.connection() as conn:
                apart = await scope_with_generations(conn, user_id, str(expected))
            return got, counted, apart
        finally:
            await pool.close()

    got, counted, apart = asyncio.run(run())
    if isinstance(got, str):
        assert got == expected
    else:
        assert got.user.role == expected
        assert (got.scope is not None) == with_scope
        if got.scope is not None:
            assert got.scope == apart  # the same as reading it on its own
    # A refused charge reads its bucket's window once more, for the Retry-After.
    assert counted == trips


def test_any_authenticated_request_reads_its_caller_and_charges_api_in_one_round_trip(
    clean_db: str, tmp_path: Any
) -> None:
    """`CurrentUser` goes the same way: the caller's row and the `api` charge together, and the
    charge lands (the RateLimit headers' quota)."""
    settings: Settings = make_settings(clean_db, tmp_path)
    auth, limits = build_auth(settings), RateLimits(settings.rate_limit)
    user_id = _user(clean_db, "teacher")
    request = _request()

    async def run() -> tuple[Any, int]:
        conn = await CountingConnection.connect(clean_db, autocommit=True, row_factory=dict_row)
        async with conn:
            CountingConnection.round_trips = 0
            user = await get_current_user(
                request, conn, auth, limits, _bearer(auth, user_id, "teacher"), None
            )
            return user, CountingConnection.round_trips

    user, trips = asyncio.run(run())
    assert (user.id, trips) == (user_id, 1)
    assert [q.bucket for q in request.scope["state"][STATE_KEY]] == ["api"]
