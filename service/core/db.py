"""The psycopg 3 connection pool, and typed reads: rows that leave a repository are dataclasses;
statements that don't depend on each other can share one round trip (`RoundTrip`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, Self, TypeVar

from psycopg import AsyncConnection, OperationalError, sql
from psycopg.abc import Params, QueryNoTemplate
from psycopg.rows import DictRow, class_row, dict_row, scalar_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from service.core.config import Settings

log = logging.getLogger(__name__)

Conn = AsyncConnection[DictRow]


Pool = AsyncConnectionPool[Conn]
Row = TypeVar("Row")
T = TypeVar("T")


# How long the pool keeps retrying (with backoff from 1 s) to replace a lost connection before it
# gives up and waits for the next request to grow it again. psycopg's default, 5 minutes, doubles
# the delay up to about a minute, so after an outage the pool could stay empty for a minute after
# the database is back; kept short, the next request that waits starts a fresh attempt at once.
RECONNECT_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 10
# While the database is known to be down, a request waits this long for a connection (instead
# of the whole pool timeout) before it answers 503: long enough for the pool to try again.
DOWN_WAIT_SECONDS = 0.5


class DatabaseHealth:
    """Did the pool's latest attempt to open a connection fail? (Set by the connections.)"""

    def __init__(self) -> None:
        self.down = False


class _TrackedConnection(AsyncConnection[DictRow]):
    """Records in `health` whether opening a connection worked (the pool's connection_class)."""

    health: ClassVar[DatabaseHealth]

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> Self:
        try:
            conn = await super().connect(conninfo, **kwargs)
        except OperationalError:
            cls.health.down = True
            raise
        cls.health.down = False
        return conn


class FailFastPool(AsyncConnectionPool[Conn]):
    """A pool that, while its database is unreachable, fails requests in DOWN_WAIT_SECONDS.

    Waiting the whole pool timeout would only hold every request for seconds to tell it the
    same thing. A waiting request still makes the pool try a new connection, so the pool notices
    the database's return by itself.
    """

    def __init__(self, conninfo: str, **kwargs: Any) -> None:
        self.health = DatabaseHealth()
        tracked = type("PoolConnection", (_TrackedConnection,), {"health": self.health})
        super().__init__(conninfo, connection_class=tracked, **kwargs)

    async def getconn(self, timeout: float | None = None) -> Conn:  # noqa: ASYNC109 - the pool API
        if timeout is None and self.health.down:
            timeout = min(DOWN_WAIT_SECONDS, self.timeout)
        return await super().getconn(timeout)


# How long `idle_connection` lets the pool hand over a connection it has just said is idle.
IDLE_WAIT_SECONDS = 0.001


@asynccontextmanager
async def idle_connection(pool: AsyncConnectionPool[Conn]) -> AsyncIterator[Conn | None]:
    """A second connection for work that can use one but doesn't need it: one the pool has
    idle right now, else None at once. Never waits behind other requests, so a request already
    holding a connection can't starve the pool by asking for another while it is busy."""
    conn = None
    if pool.get_stats().get("pool_available", 0) > 0:
        with suppress(PoolTimeout):
            conn = await pool.getconn(timeout=IDLE_WAIT_SECONDS)
    try:
        yield conn
    finally:
        if conn is not None:
            await pool.putconn(conn)


def create_pool(settings: Settings, database_url: str, *, check: bool = False) -> Pool:
    """Opened by the app lifespan; `open(wait=False)` lets the API start (and report 503) while the DB is down.

    `check` tests every connection before handing it out (one round trip): for the ingestion
    worker, whose job would fail on a connection the server dropped during an outage. The API
    skips it (a request on such a connection answers 503 and the pool replaces the connection).
    """
    options = f"-c statement_timeout={settings.db.statement_timeout_ms}"
    return FailFastPool(
        database_url,
        min_size=settings.db.pool_min_size,
        max_size=settings.db.pool_max_size,
        timeout=settings.db.pool_timeout_seconds,
        # Autocommit: handlers open explicit transactions (conn.transaction()) when they need one.
        # connect_timeout: a database that drops packets fails an attempt instead of holding it.
        kwargs={
            "row_factory": dict_row,
            "options": options,
            "autocommit": True,
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        },
        open=False,
        name="api",
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
        check=AsyncConnectionPool.check_connection if check else None,
    )


def columns(
    row: type[Any], table: str | None = None, *, computed: tuple[str, ...] = ()
) -> sql.Composed:
    """The select list for a row type: one name per field, so the two can't drift apart.
    `computed` fields come from expressions the query adds itself."""
    # A row is a dataclass, or a response model where the response is exactly the row.
    model_fields = getattr(row, "model_fields", None)
    names = list(model_fields) if model_fields is not None else [f.name for f in fields(row)]
    return sql.SQL(", ").join(
        sql.Identifier(table, name) if table else sql.Identifier(name)
        for name in names
        if name not in computed
    )


async def fetch_one(
    conn: Conn, row: type[Row], query: QueryNoTemplate, params: Params | None = None
) -> Row | None:
    async with conn.cursor(row_factory=class_row(row)) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def fetch_all(
    conn: Conn, row: type[Row], query: QueryNoTemplate, params: Params | None = None
) -> list[Row]:
    async with conn.cursor(row_factory=class_row(row)) as cur:
        await cur.execute(query, params)
        return await cur.fetchall()


async def fetch_page(
    conn: Conn,
    row: type[Row],
    *,
    select: sql.Composable,
    source: sql.Composable,
    where: sql.Composable,
    order_by: sql.Composable,
    params: dict[str, Any],
) -> tuple[list[Row], int]:
    """One page of `SELECT <select> FROM <source> WHERE <where>` and how many rows match in all.

    `params` holds `limit` and `offset` beside the filter's own; `order_by` must end in a unique
    column, so pages neither overlap nor skip rows."""
    total = await fetch_count(
        conn, sql.SQL("SELECT count(*) FROM {} WHERE {}").format(source, where), params
    )
    query = sql.SQL(
        "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %(limit)s OFFSET %(offset)s"
    ).format(select, source, where, order_by)
    return await fetch_all(conn, row, query, params), total


async def fetch_new(conn: Conn, row: type[Row], query: QueryNoTemplate, params: Params) -> Row:
    """For statements that always return their row: INSERT (or upsert) ... RETURNING."""
    found = await fetch_one(conn, row, query, params)
    assert found is not None
    return found


async def fetch_count(conn: Conn, query: QueryNoTemplate, params: Params | None = None) -> int:
    """The single number a `SELECT count(*) ...` returns."""
    async with conn.cursor(row_factory=scalar_row) as cur:
        await cur.execute(query, params)
        return int(await cur.fetchone() or 0)


@dataclass(frozen=True)
class Statement(Generic[T]):
    """One statement and what its rows mean, so it runs alone (`run`) or beside others in one
    round trip (`RoundTrip`) through the same code. No `query`: the answer needs no database
    (`read` gets no rows)."""

    query: QueryNoTemplate | None
    params: Params | None
    read: Callable[[Sequence[DictRow]], T]


class Answer(Generic[T]):
    """A statement's meaning once its round trip has run."""

    def __init__(self) -> None:
        self._value: T
        self._set = False

    @property
    def value(self) -> T:
        if not self._set:
            raise RuntimeError("the round trip has not run")
        return self._value

    def _resolve(self, value: T) -> None:
        self._value, self._set = value, True


class RoundTrip:
    """Statements sent together and answered together: one round trip and one transaction
    (psycopg's pipeline mode), for a request whose reads don't depend on each other's answers.
    If one fails, the ones after it don't run and what the ones before it wrote is rolled back."""

    def __init__(self) -> None:
        self._items: list[tuple[Statement[Any], Answer[Any]]] = []

    def add(self, statement: Statement[T]) -> Answer[T]:
        answer: Answer[T] = Answer()
        self._items.append((statement, answer))
        return answer

    async def run(self, conn: Conn) -> None:
        asked = [(st.query, st, answer) for st, answer in self._items if st.query is not None]
        cursors = []
        if len(asked) == 1:  # a pipeline's extra sync buys nothing for one statement
            query, st, _ = asked[0]
            cursors.append(await conn.execute(query, st.params))
        elif asked:
            async with conn.pipeline():
                for query, st, _ in asked:
                    cursors.append(await conn.execute(query, st.params))
        for (_, st, answer), cur in zip(asked, cursors, strict=True):
            # A statement that returns no rows (an UPDATE without RETURNING) reads as none.
            answer._resolve(st.read(await cur.fetchall() if cur.description is not None else []))
        for st, answer in self._items:
            if st.query is None:
                answer._resolve(st.read([]))


async def run(conn: Conn, statement: Statement[T]) -> T:
    """One statement in its own round trip."""
    trip = RoundTrip()
    answer = trip.add(statement)
    await trip.run(conn)
    return answer.value
