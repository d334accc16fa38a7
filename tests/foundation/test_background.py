"""`repeating`: upkeep that runs beside the app, survives a failing round, and stops with it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.core.background import repeating


def test_a_failing_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    rounds: list[int] = []
    three = asyncio.Event()

    async def job() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 3:
            three.set()
        if len(rounds) == 1:
            raise ConnectionError("database down")

    async def run() -> int:
        async with repeating(job, 0.01, "test sweep"):
            await three.wait()
        stopped_at = len(rounds)
        await asyncio.sleep(0.05)  # the block is over: no more rounds
        return stopped_at

    with caplog.at_level(logging.WARNING, logger="service.core.background"):
        stopped_at = asyncio.run(asyncio.wait_for(run(), timeout=10))
    assert len(rounds) == stopped_at >= 3
    assert [r.getMessage() for r in caplog.records] == ["test sweep failed"]


@pytest.mark.parametrize(("at_once", "rounds_before_the_interval"), [(True, 1), (False, 0)])
def test_at_once_runs_the_first_round_as_the_block_begins(
    at_once: bool, rounds_before_the_interval: int
) -> None:
    rounds: list[None] = []

    async def job() -> None:
        rounds.append(None)

    async def run() -> int:
        async with repeating(job, 60, "test sampler", at_once=at_once):
            await asyncio.sleep(0.05)
            return len(rounds)

    assert asyncio.run(run()) == rounds_before_the_interval
