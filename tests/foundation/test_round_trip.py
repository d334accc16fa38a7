"""`RoundTrip`: statements sent together are answered in order, as one transaction, and a failing
one leaves nothing behind; `run` is the same code for one statement."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg.rows import DictRow, dict_row

from service.core.db import Answer, RoundTrip, Statement, run


def _one(rows: Sequence[DictRow]) -> Any:
    (row,) = rows
    return next(iter(row.values()))


TXID = Statement("SELECT txid_current() AS t", None, _one)


async def _connect(url: str) -> psycopg.AsyncConnection[DictRow]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


def test_statements_sent_together_are_answered_in_order_in_one_transaction(db_url: str) -> None:
    asked: list[Sequence[DictRow]] = []

    def nothing_asked(rows: Sequence[DictRow]) -> str:
        asked.append(rows)
        return "no database needed"

    async def go() -> tuple[list[Any], int, int]:
        async with await _connect(db_url) as conn:
            trip = RoundTrip()
            answers: list[Answer[Any]] = [
                trip.add(TXID),
                trip.add(Statement("SELECT %s::int * 2 AS n", (21,), _one)),
                trip.add(Statement(None, None, nothing_asked)),
                trip.add(TXID),
            ]
            await trip.run(conn)
            alone = await run(conn, TXID), await run(conn, TXID)
            return [a.value for a in answers], *alone

    (first_tx, doubled, none, last_tx), alone_a, alone_b = asyncio.run(go())
    assert (doubled, none) == (42, "no database needed")
    assert asked == [[]]
    assert first_tx == last_tx  # one transaction
    assert len({first_tx, alone_a, alone_b}) == 3  # each statement run alone is its own


def test_a_failing_statement_stops_the_rest_and_rolls_back_the_ones_before(db_url: str) -> None:
    async def go() -> tuple[int, Answer[Any]]:
        async with await _connect(db_url) as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS round_trip_probe (n int)")
            await conn.execute("TRUNCATE round_trip_probe")
            trip = RoundTrip()
            trip.add(Statement("INSERT INTO round_trip_probe VALUES (1)", None, len))  # no rows
            trip.add(Statement("SELECT 1 / 0 AS n", None, _one))
            after = trip.add(Statement("INSERT INTO round_trip_probe VALUES (2)", None, len))
            with pytest.raises(psycopg.errors.DivisionByZero):
                await trip.run(conn)
            rows = await run(
                conn, Statement("SELECT count(*) AS n FROM round_trip_probe", None, _one)
            )
            await conn.execute("DROP TABLE round_trip_probe")
            return int(rows), after

    written, after = asyncio.run(go())
    assert written == 0
    with pytest.raises(RuntimeError, match="has not run"):
        _ = after.value


def test_a_statement_that_returns_no_rows_reads_as_none(db_url: str) -> None:
    async def go() -> tuple[int, int]:
        async with await _connect(db_url) as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS round_trip_rows (n int)")
            trip = RoundTrip()
            wrote = trip.add(Statement("INSERT INTO round_trip_rows VALUES (1)", None, len))
            count = trip.add(Statement("SELECT count(*) AS n FROM round_trip_rows", None, _one))
            await trip.run(conn)
            await conn.execute("DROP TABLE round_trip_rows")
            return wrote.value, int(count.value)

    assert asyncio.run(go()) == (0, 1)
