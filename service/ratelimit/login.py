"""Sign-in throttling: rate limits per client IP and per account, plus exponential backoff after
consecutive failures, all checked before any password is hashed.

Every check runs the same statements whether or not the email belongs to an account (the
account key is a hash of the address as typed, lower-cased), so neither the answers nor their
timing say which addresses are registered. A blocked caller gets 429 with Retry-After and no
password check at all: that is what makes guessing expensive for the guesser, not for us.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime

from service.core.config import RateLimitSettings
from service.core.db import Conn
from service.core.exceptions import RateLimited
from service.core.quota import Quota
from service.ratelimit.limiter import RateLimits

_RECORD_FAILURE = """
INSERT INTO login_failures AS f (key, failures, last_failure_at, blocked_until)
VALUES (%(key)s, 1, now(),
        CASE WHEN 1 > %(free)s THEN now() + make_interval(secs => %(base)s) END)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN f.last_failure_at < now() - make_interval(secs => %(decay)s)
                    THEN 1 ELSE f.failures + 1 END,
    last_failure_at = now(),
    blocked_until = CASE
        WHEN (CASE WHEN f.last_failure_at < now() - make_interval(secs => %(decay)s)
                   THEN 1 ELSE f.failures + 1 END) > %(free)s
        THEN now() + make_interval(secs => least(%(cap)s, %(base)s * power(2,
                 (CASE WHEN f.last_failure_at < now() - make_interval(secs => %(decay)s)
                       THEN 1 ELSE f.failures + 1 END) - %(free)s - 1)))
        END
RETURNING failures, blocked_until
"""


def account_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"login:account:{digest}"


def ip_key(ip: str) -> str:
    return f"login:ip:{ip}"


class LoginGuard:
    def __init__(self, settings: RateLimitSettings, limits: RateLimits) -> None:
        self.settings = settings
        self.limits = limits

    async def check(self, conn: Conn, email: str, ip: str) -> None:
        """Raises RateLimited when this IP or account is over its rate or backing off."""
        if not self.limits.enabled:
            return
        await self.limits.charge_all(
            conn, [("login_ip", ip), ("login_account", account_key(email))], []
        )
        cur = await conn.execute(
            "SELECT max(blocked_until) AS until FROM login_failures "
            "WHERE key = ANY(%s) AND blocked_until > now()",
            ([account_key(email), ip_key(ip)],),
        )
        row = await cur.fetchone()
        until = row["until"] if row else None
        if until is not None:
            wait = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
            raise RateLimited(
                "login_backoff",
                f"Too many failed sign-ins; wait {wait} s before trying again.",
                quota=Quota("login", 1, wait, 0, wait),
            )

    async def check_ip(self, conn: Conn, ip: str) -> None:
        """Registration: it hashes a password too, so it spends the same per-IP budget."""
        if self.limits.enabled:
            await self.limits.charge(conn, "login_ip", ip)

    async def failed(self, conn: Conn, email: str, ip: str) -> None:
        if not self.limits.enabled:
            return
        s = self.settings
        for key, free in (
            (account_key(email), s.login_free_failures),
            (ip_key(ip), s.login_ip_free_failures),
        ):
            await conn.execute(
                _RECORD_FAILURE,
                {
                    "key": key,
                    "free": free,
                    "base": s.login_backoff_base_seconds,
                    "cap": s.login_backoff_max_seconds,
                    # An idle IP starts over once a full backoff period has passed.
                    "decay": s.login_backoff_max_seconds,
                },
            )

    async def succeeded(self, conn: Conn, email: str) -> None:
        """The account's failures are forgiven; the IP's are not (one good password from an
        address doesn't vouch for the guesses it makes at other accounts)."""
        if self.limits.enabled:
            await conn.execute("DELETE FROM login_failures WHERE key = %s", (account_key(email),))


async def sweep_stale(conn: Conn, older_than_seconds: float) -> int:
    cur = await conn.execute(
        "DELETE FROM login_failures WHERE last_failure_at < now() - make_interval(secs => %s) "
        "AND (blocked_until IS NULL OR blocked_until < now())",
        (older_than_seconds,),
    )
    return cur.rowcount
