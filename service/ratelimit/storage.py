"""A PostgreSQL storage for the `limits` library's sliding-window-counter strategy.

`limits` supplies the algorithm (SlidingWindowCounterRateLimiter: the previous window's count,
weighted by how much of it still overlaps, plus the current window's) and the window keys; this
class supplies the two operations it needs, each one SQL statement on the request's own pooled
connection, so every API instance shares the same counters and a hit costs one round trip.
Several hits (a request's `api` and `rag` buckets) can share that one statement.

The acquire is atomic: the UPSERT's ON CONFLICT ... WHERE runs with the current window's row
locked, so concurrent hits can't both take the last slot. The previous window is no longer
written to once time has moved on, so reading it unlocked is exact.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache

from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow
from psycopg import Error as PsycopgError
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal, Placeholder

from service.core.db import Conn, Statement, run

_PARAMS = ("previous", "current", "amount", "ttl", "weight", "limit")  # per entry, suffixed i

# Entry i's {p}/{a}: p reads the previous window's count, a takes {amount} from the current window
# if the weighted sum stays within the limit ({after}: only when the entry before it was granted).
_ACQUIRE_ONE = SQL("""
{p} AS (
    SELECT coalesce((SELECT count FROM rate_limit_counters
                      WHERE key = {previous} AND expires_at > now()), 0) AS n
),
{a} AS (
    INSERT INTO rate_limit_counters AS c (key, count, expires_at)
    SELECT {current}, {amount}, now() + make_interval(secs => {ttl})
      FROM {p}
     WHERE floor({p}.n * {weight}) + {amount} <= {limit}{after}
    ON CONFLICT (key) DO UPDATE
       SET count = CASE WHEN c.expires_at > now() THEN c.count ELSE 0 END + EXCLUDED.count,
           expires_at = CASE WHEN c.expires_at > now() THEN c.expires_at
                             ELSE EXCLUDED.expires_at END
     WHERE floor((SELECT n FROM {p}) * {weight})
           + CASE WHEN c.expires_at > now() THEN c.count ELSE 0 END + EXCLUDED.count <= {limit}
    RETURNING count, (SELECT n FROM {p}) AS previous
)""")


@lru_cache(maxsize=8)
def _acquire(n: int) -> Composed:
    """One statement for n entries, returning a row (i, count, previous) per granted entry; an
    entry is tried only when the one before it was granted (a charge stops at the first empty
    bucket)."""
    ctes = [
        _ACQUIRE_ONE.format(
            p=Identifier(f"p{i}"),
            a=Identifier(f"a{i}"),
            after=SQL(" AND EXISTS (SELECT 1 FROM {})").format(Identifier(f"a{i - 1}"))
            if i
            else SQL(""),
            **{name: Placeholder(f"{name}{i}") for name in _PARAMS},
        )
        for i in range(n)
    ]
    rows = SQL(" UNION ALL ").join(
        SQL("SELECT {} AS i, count, previous FROM {}").format(Literal(i), Identifier(f"a{i}"))
        for i in range(n)
    )
    return SQL("WITH {}\n{}").format(SQL(",").join(ctes), rows)


_WINDOW = """
SELECT coalesce(max(count) FILTER (WHERE key = %(previous)s), 0) AS previous,
       coalesce(max(count) FILTER (WHERE key = %(current)s), 0) AS current
  FROM rate_limit_counters
 WHERE key IN (%(previous)s, %(current)s) AND expires_at > now()
"""


def _ttls(expiry: int, now: float) -> tuple[float, float]:
    """Seconds the previous window still weighs in, and until the current one is dropped
    (the same arithmetic as `limits`' own storages)."""
    previous = (1 - (((now - expiry) / expiry) % 1)) * expiry
    current = (1 - ((now / expiry) % 1)) * expiry + expiry
    return previous, current


class PostgresStorage(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """Bound to one connection (the request's): build one per use, it holds no other state.

    It remembers the counts its own last acquire saw, so the window statistics the caller asks
    for right after a hit (for the RateLimit headers) cost no second round trip.
    """

    STORAGE_SCHEME = None  # built directly, never from a storage URI

    def __init__(self, conn: Conn) -> None:
        super().__init__()
        self.conn = conn
        self._seen: dict[str, tuple[int, int, float]] = {}  # key -> (previous, current, at)

    @property
    def base_exceptions(self) -> type[Exception]:
        return PsycopgError

    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        return (await self.acquire_sliding_window_entries([(key, limit, expiry, amount)]))[0]

    async def acquire_sliding_window_entries(
        self, entries: Sequence[tuple[str, int, int, int]]
    ) -> list[bool]:
        """`acquire_sliding_window_entry` for each (key, limit, expiry, amount) in turn, in one
        statement: the first refusal stops the rest, which are then refused too."""
        return await run(self.conn, self.acquire_statement(entries))

    def acquire_statement(
        self, entries: Sequence[tuple[str, int, int, int]]
    ) -> Statement[list[bool]]:
        """The statement `acquire_sliding_window_entries` runs, to send beside others."""
        asked: list[tuple[str, int, int, int]] = []
        for entry in entries:
            if entry[3] > entry[1]:
                break  # more than the whole limit: refused without asking
            asked.append(entry)
        if len({key for key, *_ in asked}) != len(asked):
            raise ValueError("each key at most once per statement")
        now = time.time()
        params: dict[str, object] = {}
        for i, (key, limit, expiry, amount) in enumerate(asked):
            previous_key, current_key = self.sliding_window_keys(key, expiry, now)
            previous_ttl, current_ttl = _ttls(expiry, now)
            values = (previous_key, current_key, amount, current_ttl, previous_ttl / expiry, limit)
            params |= {f"{name}{i}": v for name, v in zip(_PARAMS, values, strict=True)}

        def read(rows: Sequence[DictRow]) -> list[bool]:
            granted = [False] * len(entries)
            for row in rows:
                i = int(row["i"])
                granted[i] = True
                self._seen[asked[i][0]] = (int(row["previous"]), int(row["count"]), now)
            for (key, *_), ok in zip(entries, granted, strict=True):
                if not ok:
                    self._seen.pop(key, None)  # refused: the caller reads the window afresh
            return granted

        return Statement(_acquire(len(asked)) if asked else None, params, read)

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        seen = self._seen.get(key)
        if seen is not None:
            previous, current, now = seen
        else:
            now = time.time()
            previous_key, current_key = self.sliding_window_keys(key, expiry, now)
            cur = await self.conn.execute(
                _WINDOW, {"previous": previous_key, "current": current_key}
            )
            row = await cur.fetchone()
            previous, current = (int(row["previous"]), int(row["current"])) if row else (0, 0)
        previous_ttl, current_ttl = _ttls(expiry, now)
        return previous, (previous_ttl if previous else 0.0), current, current_ttl

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        await self.conn.execute(
            "DELETE FROM rate_limit_counters WHERE key IN (%s, %s)", (previous_key, current_key)
        )
        self._seen.pop(key, None)

    # The fixed-window half of the Storage interface: unused by this strategy, but implemented
    # (one row per key) so the class is a complete `limits` storage.

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        cur = await self.conn.execute(
            "INSERT INTO rate_limit_counters AS c (key, count, expires_at) "
            "VALUES (%(k)s, %(a)s, now() + make_interval(secs => %(e)s)) "
            "ON CONFLICT (key) DO UPDATE SET "
            " count = CASE WHEN c.expires_at > now() THEN c.count ELSE 0 END + EXCLUDED.count, "
            " expires_at = CASE WHEN c.expires_at > now() THEN c.expires_at "
            "                   ELSE EXCLUDED.expires_at END "
            "RETURNING count",
            {"k": key, "a": amount, "e": expiry},
        )
        row = await cur.fetchone()
        return int(row["count"]) if row else 0

    async def get(self, key: str) -> int:
        cur = await self.conn.execute(
            "SELECT count FROM rate_limit_counters WHERE key = %s AND expires_at > now()", (key,)
        )
        row = await cur.fetchone()
        return int(row["count"]) if row else 0

    async def get_expiry(self, key: str) -> float:
        cur = await self.conn.execute(
            "SELECT extract(epoch FROM expires_at) AS at FROM rate_limit_counters WHERE key = %s",
            (key,),
        )
        row = await cur.fetchone()
        return float(row["at"]) if row else time.time()

    async def check(self) -> bool:
        await self.conn.execute("SELECT 1")
        return True

    async def reset(self) -> int | None:
        cur = await self.conn.execute("DELETE FROM rate_limit_counters")
        return cur.rowcount

    async def clear(self, key: str) -> None:
        await self.conn.execute("DELETE FROM rate_limit_counters WHERE key = %s", (key,))


async def sweep_expired(conn: Conn) -> int:
    """Drops counters whose window has passed (the table otherwise grows by one row per
    caller per window)."""
    cur = await conn.execute("DELETE FROM rate_limit_counters WHERE expires_at <= now()")
    return cur.rowcount
