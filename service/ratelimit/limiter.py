"""Per-user (and per-IP) rate limits: named buckets, one policy each, counted in PostgreSQL.

`RateLimits.charge(conn, bucket, key)` is the entry point: it takes one request from the
bucket for that key and returns where the caller stands, or raises `RateLimited` (429) with the
time until the next request is allowed; `charge_all` does the same for several buckets in one
round trip, and `prepare` splits that in two so the charge can share a round trip with other
statements (a question's caller and scope). The API charges "api" for every authenticated
request and "rag" for questions; a feature with its own budget (the tutor chat: "tutor") charges
its bucket the same way.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from service.core.config import RateLimitSettings
from service.core.db import Conn, run
from service.core.exceptions import RateLimited
from service.core.quota import Quota
from service.ratelimit.storage import PostgresStorage

Bucket = Literal["api", "rag", "tutor", "uploads", "feedback", "login_ip", "login_account"]

_WHAT = {
    "api": "requests",
    "rag": "questions",
    "tutor": "tutor messages",
    "uploads": "uploads",
    "feedback": "feedback reports",
    "login_ip": "sign-in attempts from this address",
    "login_account": "sign-in attempts for this account",
}


class RateLimits:
    def __init__(self, settings: RateLimitSettings) -> None:
        self.enabled = settings.enabled
        self.items: dict[str, RateLimitItem] = {
            bucket: _item(bucket, getattr(settings, bucket)) for bucket in _WHAT
        }

    def policy(self, bucket: Bucket) -> tuple[int, int]:
        item = self.items[bucket]
        return item.amount, item.get_expiry()

    async def charge(self, conn: Conn, bucket: Bucket, key: str) -> Quota | None:
        """Takes one request from `bucket` for `key`; None when limits are switched off."""
        spent: list[Quota] = []
        await self.charge_all(conn, [(bucket, key)], spent)
        return spent[0] if spent else None

    async def charge_all(
        self, conn: Conn, charges: Sequence[tuple[Bucket, str]], spent: list[Quota]
    ) -> None:
        """`charge` for each (bucket, key) in turn, in one round trip, appending each taken
        request's quota to `spent`. The first empty bucket raises RateLimited and the ones after
        it are not charged, as if charged one by one."""
        prepared = self.prepare(conn, charges)
        granted = await run(conn, prepared.statement)
        await prepared.settle(granted, spent)

    def prepare(self, conn: Conn, charges: Sequence[tuple[Bucket, str]]) -> Charges:
        """`charge_all` in two halves, so its statement can share a round trip with others:
        send `statement`, then `settle` what it answered."""
        return Charges(self, PostgresStorage(conn), charges if self.enabled else ())


class Charges:
    """Charges prepared by `RateLimits.prepare`."""

    def __init__(
        self, limits: RateLimits, storage: PostgresStorage, charges: Sequence[tuple[Bucket, str]]
    ) -> None:
        self._storage = storage
        self._items = [(bucket, limits.items[bucket], key) for bucket, key in charges]
        self.statement = storage.acquire_statement(
            [(item.key_for(key), item.amount, item.get_expiry(), 1) for _, item, key in self._items]
        )

    async def settle(self, granted: Sequence[bool], spent: list[Quota]) -> None:
        """Appends each taken request's quota to `spent`; raises RateLimited at the first
        refusal."""
        limiter = SlidingWindowCounterRateLimiter(self._storage)
        for (bucket, item, key), allowed in zip(self._items, granted, strict=True):
            stats = await limiter.get_window_stats(item, key)
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            if not allowed:
                retry = max(1, reset)
                raise RateLimited(
                    "rate_limited",
                    f"Too many {_WHAT[bucket]}: the limit is {item.amount} per "
                    f"{_window_words(item.get_expiry())}. Retry in {retry} s.",
                    quota=Quota(bucket, item.amount, item.get_expiry(), 0, retry),
                )
            spent.append(Quota(bucket, item.amount, item.get_expiry(), stats.remaining, reset))


def _item(bucket: str, notation: str) -> RateLimitItem:
    item = parse(notation)
    item.namespace = f"rl:{bucket}"  # one counter per bucket and key, whatever the limit
    return item


def _window_words(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds} seconds"
