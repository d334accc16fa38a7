"""Per-user rate limits at the origin, shared by every instance through PostgreSQL, with the
IETF RateLimit headers and 429 + Retry-After; sign-in limits per IP and per account with
exponential backoff, checked before any password is hashed."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from service.core.config import RateLimitSettings
from service.core.exceptions import RateLimited
from service.ratelimit import Bucket, RateLimits
from tests.abuse.conftest import EDGE_SECRET, HashEmbedder, from_ip
from tests.conftest import Api, ApiSettings, StartApi
from tests.factories import PASSWORD, Account, Accounts

LIMITS = {
    "rate_limit_api": "5/minute",
    "rate_limit_rag": "2/minute",
    "rate_limit_uploads": "2/hour",
    "origin_shared_secret": EDGE_SECRET,
    "llm_provider": "extractive",
}


def _same_keys(live_api: Api) -> dict[str, object]:
    """Sign with the suite API's key, so its tokens are good here too (as across instances)."""
    return {"jwt_private_key_file": live_api.settings.signing_key_path}


@pytest.fixture(scope="module")
def limited(start_api: StartApi, api_settings: ApiSettings, live_api: Api) -> Api:
    return start_api(api_settings(**LIMITS, **_same_keys(live_api)), embedder=HashEmbedder())


@pytest.fixture(scope="module")
def limited_twin(start_api: StartApi, api_settings: ApiSettings, live_api: Api) -> Api:
    """A second instance with the same limits: the counters are shared, not per process."""
    return start_api(api_settings(**LIMITS, **_same_keys(live_api)), embedder=HashEmbedder())


def away_from_window_edge(window: int = 60, margin: float = 10) -> None:
    """Windows are aligned to the clock: a burst straddling a boundary is judged by the sliding
    window's weighting (rightly, but not what these tests count on)."""
    into = time.time() % window
    if into > window - margin:
        time.sleep(window - into + 0.05)


def _me(url: str, who: Account | dict[str, str]) -> httpx.Response:
    headers = who.headers if isinstance(who, Account) else who
    return httpx.get(f"{url}/api/auth/me", headers=headers, timeout=30)


def test_general_limit_headers_and_429(limited: Api, accounts: Accounts) -> None:
    away_from_window_edge()
    user, other = accounts.create("student"), accounts.create("student")
    seen = [_me(limited.url, user) for _ in range(5)]
    assert [r.status_code for r in seen] == [200] * 5
    assert [r.headers["RateLimit-Remaining"] for r in seen] == ["4", "3", "2", "1", "0"]
    assert {r.headers["RateLimit-Limit"] for r in seen} == {"5"}
    assert {r.headers["RateLimit-Policy"] for r in seen} == {"5;w=60"}
    assert all(0 <= int(r.headers["RateLimit-Reset"]) <= 120 for r in seen)

    refused = _me(limited.url, user)
    assert refused.status_code == 429
    err = refused.json()["error"]
    assert err["code"] == "rate_limited" and err["request_id"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 120
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Per user: someone else is untouched.
    assert _me(limited.url, other).status_code == 200


def test_limits_are_shared_between_instances(
    limited: Api, limited_twin: Api, accounts: Accounts
) -> None:
    away_from_window_edge()
    user = accounts.create("student")
    statuses = [_me(url, user).status_code for url in [limited.url, limited_twin.url] * 4]
    assert statuses == [200] * 5 + [429] * 3


def test_questions_have_their_own_tighter_bucket(limited: Api, accounts: Accounts) -> None:
    away_from_window_edge()
    user = accounts.create("student")
    ask = {"query": "How do I practise scales?", "top_k": 1}
    replies = [
        httpx.post(f"{limited.url}/api/chat/query", json=ask, headers=user.headers, timeout=60)
        for _ in range(3)
    ]
    assert [r.status_code for r in replies] == [200, 200, 429], [r.text for r in replies]
    assert replies[1].headers["RateLimit-Limit"] == "2"  # the tightest bucket is reported
    assert replies[2].json()["error"]["message"].startswith("Too many questions")
    # The general bucket was charged too (3 of 5), so two plain requests are left.
    assert [_me(limited.url, user).status_code for _ in range(3)] == [200, 200, 429]


def test_uploads_have_their_own_bucket(limited: Api, accounts: Accounts) -> None:
    away_from_window_edge(3600)
    user = accounts.create("teacher")
    body = {"title": "Scales", "filename": "scales.pdf", "file_size": 1000}
    statuses = [
        httpx.post(
            f"{limited.url}/api/projects", json=body, headers=user.headers, timeout=30
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [201, 201, 429]


def test_api_keys_spend_their_users_budget(
    limited: Api, client: httpx.Client, accounts: Accounts
) -> None:
    away_from_window_edge()
    user = accounts.create("teacher")
    key = client.post(
        "/api/auth/api-keys", json={"name": "script", "scope": "read"}, headers=user.headers
    ).json()["key"]
    assert [_me(limited.url, {"X-API-Key": key}).status_code for _ in range(3)] == [200] * 3
    assert [_me(limited.url, user).status_code for _ in range(3)] == [200, 200, 429]
    assert _me(limited.url, {"X-API-Key": key}).status_code == 429


def test_the_tutor_can_charge_its_own_bucket(db_url: str) -> None:
    away_from_window_edge()
    """The domain entry point a feature with its own budget uses (no HTTP involved)."""
    limits = RateLimits(RateLimitSettings(tutor="3/minute"))
    key = str(uuid.uuid4())

    async def run() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(
            db_url, autocommit=True, row_factory=dict_row
        ) as conn:
            out: list[Any] = []
            for _ in range(4):
                try:
                    out.append(await limits.charge(conn, "tutor", key))
                except RateLimited as exc:
                    out.append(exc)
            return out

    results = asyncio.run(run())
    assert [q.remaining for q in results[:3]] == [2, 1, 0]
    assert isinstance(results[3], RateLimited) and results[3].quota.bucket == "tutor"
    assert results[3].quota.reset_seconds >= 1


def test_several_buckets_are_charged_in_one_round_trip_stopping_at_the_first_empty(
    db_url: str,
) -> None:
    """charge_all takes from each bucket in turn, in one statement: after an empty bucket
    nothing more is charged, and what was charged before it is reported."""
    away_from_window_edge()
    limits = RateLimits(RateLimitSettings(api="2/minute", rag="3/minute", tutor="1/minute"))
    key, other = str(uuid.uuid4()), str(uuid.uuid4())
    statements: list[str] = []

    async def run() -> list[tuple[list[tuple[str, int]], str | None]]:
        async with await psycopg.AsyncConnection.connect(
            db_url, autocommit=True, row_factory=dict_row
        ) as conn:
            execute = conn.execute

            async def counted(query: Any, params: Any = None, **kw: Any) -> Any:
                statements.append(str(query))
                return await execute(query, params, **kw)

            conn.execute = counted  # type: ignore[method-assign]
            out = []
            table: list[list[tuple[Bucket, str]]] = [
                [("tutor", key), ("rag", key)],  # both granted
                [("tutor", key), ("rag", key)],  # tutor is empty: rag is left alone
                [("api", key), ("rag", key)],
                [("rag", key), ("api", key)],  # the last of each
                [("api", other), ("tutor", other)],
                [("api", other), ("tutor", other)],  # api charged, then tutor is empty
            ]
            for charges in table:
                spent: list[Any] = []
                try:
                    await limits.charge_all(conn, charges, spent)
                    refused = None
                except RateLimited as exc:
                    refused = exc.quota.bucket
                out.append(([(q.bucket, q.remaining) for q in spent], refused))
            return out

    assert asyncio.run(run()) == [
        ([("tutor", 0), ("rag", 2)], None),
        ([], "tutor"),
        ([("api", 1), ("rag", 1)], None),
        ([("rag", 0), ("api", 0)], None),
        ([("api", 1), ("tutor", 0)], None),
        ([("api", 0)], "tutor"),
    ]
    acquires = [q for q in statements if "INSERT INTO rate_limit_counters" in q]
    assert len(acquires) == 6  # one per charge_all, whatever the number of buckets
    assert len(statements) == 8  # plus a read of each empty bucket's window, for its reset


# --- signing in -------------------------------------------------------------------------------

LOGIN_LIMITS = {
    "origin_shared_secret": EDGE_SECRET,
    "rate_limit_login_ip": "6/minute",
    "rate_limit_login_account": "100/minute",
    "rate_limit_login_free_failures": 2,
    "rate_limit_login_ip_free_failures": 50,
    "rate_limit_login_backoff_base_seconds": 1,
    "rate_limit_login_backoff_max_seconds": 4,
}


@pytest.fixture(scope="module")
def guarded(start_api: StartApi, api_settings: ApiSettings, live_api: Api) -> Api:
    return start_api(api_settings(**LOGIN_LIMITS, **_same_keys(live_api)))


def _login(api: Api, email: str, password: str, ip: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/api/auth/login",
        json={"email": email, "password": password},
        headers=from_ip(ip),
        timeout=30,
    )


def test_sign_ins_per_ip_are_limited_before_any_password_is_hashed(
    guarded: Api, accounts: Accounts
) -> None:
    away_from_window_edge()
    user, other = accounts.create("student"), accounts.create("student")
    ip = "203.0.113.10"
    timings: dict[int, list[float]] = {401: [], 429: []}
    statuses = []
    for _ in range(9):
        started = time.perf_counter()
        r = _login(guarded, user.email, "wrong password", ip)
        timings.setdefault(r.status_code, []).append(time.perf_counter() - started)
        statuses.append(r.status_code)
    assert statuses[:2] == [401, 401] and statuses.count(429) >= 3, statuses
    # Refused without Argon2 (~64 MiB, tens of ms): clearly cheaper than a checked attempt.
    assert statistics.median(timings[429]) < statistics.median(timings[401]) / 2, timings
    # Another address has its own budget; a client-sent X-Forwarded-For without the edge's
    # secret is not believed (that would let anyone pick their own address).
    assert _login(guarded, other.email, PASSWORD, "203.0.113.11").status_code == 200
    spoofed = httpx.post(
        f"{guarded.url}/api/auth/login",
        json={"email": other.email, "password": PASSWORD},
        headers={"X-Forwarded-For": ip},
        timeout=30,
    )
    assert spoofed.status_code == 200, spoofed.text  # counted against the socket address


@pytest.mark.parametrize("registered", [True, False])
def test_failures_back_off_exponentially_for_any_address(
    guarded: Api, accounts: Accounts, registered: bool
) -> None:
    """The same for a registered account and an unknown address: no oracle either way."""
    email = accounts.create("student").email if registered else "nobody@example.com"
    ips = iter(f"198.51.100.{i}" for i in range(1, 60))  # fresh addresses: the account's rule
    assert [_login(guarded, email, "bad", next(ips)).status_code for _ in range(2)] == [401, 401]
    third = _login(guarded, email, "bad", next(ips))  # the first failure past the free ones
    assert third.status_code == 401
    blocked = _login(guarded, email, PASSWORD, next(ips))  # even the right password waits
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "login_backoff"
    assert blocked.headers["Retry-After"] == "1"
    time.sleep(1.2)
    again = _login(guarded, email, "bad", next(ips))  # 4th failure: 2 s
    assert again.status_code == 401
    blocked = _login(guarded, email, "bad", next(ips))
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) == 2
    time.sleep(2.2)
    final = _login(guarded, email, PASSWORD, next(ips))
    assert final.status_code == (200 if registered else 401)
    if registered:  # a success forgives the account's failures
        assert _login(guarded, email, "bad", next(ips)).status_code == 401
        assert _login(guarded, email, "bad", next(ips)).status_code == 401


def test_failed_sign_ins_are_audited(
    guarded: Api, client: httpx.Client, accounts: Accounts
) -> None:
    admin = accounts.create("admin")
    _login(guarded, "someone@example.com", "bad", "192.0.2.77")
    r = client.get(
        "/api/admin/audit", params={"action": "auth.login_failed"}, headers=admin.headers
    )
    entries = [e for e in r.json()["items"] if e["client_ip"] == "192.0.2.77"]
    assert entries and entries[0]["details"] == {"email": "someone@example.com"}
    assert entries[0]["request_id"]
