"""`make bench-question-reads`: what every question costs in round trips before its cache lookup.

A student's question reads the caller's user row, charges two rate-limit buckets (`api`, `rag`)
and reads the student's scope (their teachers) and that scope's knowledge generations. This
measures, on one connection to PostgreSQL (DATABASE_URL, or a throwaway embedded server), three
ways the code can do it, interleaved in rounds so all see the same machine load:

- one by one: the user, `RateLimits.charge` twice, `scope_for`, then `generations` (five round
  trips);
- in two steps: the user, then `RateLimits.charge_all` (the charges in one statement), then
  `scope_with_generations` (three round trips);
- in one round trip: the three statements sent together (`RoundTrip`), what the question path
  runs.

Writes loadtest/results/bench-question-round-trips-<timestamp>.json and appends a row to
bench-question-round-trips.md (bench-question-reads.md holds the runs of the earlier two-way
version).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from devtools.figures import append_run, latency_summary, record
from devtools.postgres import benchmark_database
from service.access.scope import scope_for
from service.cache.generations import generations, scope_statement, scope_with_generations
from service.core.config import REPO_ROOT, RateLimitSettings
from service.core.db import RoundTrip
from service.ratelimit import RateLimits
from service.repositories import users

RESULTS = REPO_ROOT / "loadtest" / "results"
HIGH = RateLimitSettings(api="100000000/hour", rag="100000000/hour")


def _student_with_teachers(url: str, teachers: int) -> uuid.UUID:
    with psycopg.connect(url, autocommit=True) as conn:
        ids = []
        for role in ["student"] + ["teacher"] * teachers:
            row = conn.execute(
                "INSERT INTO users (email, display_name, role) VALUES (%s, 'b', %s) RETURNING id",
                (f"bench-{uuid.uuid4().hex[:10]}@example.com", role),
            ).fetchone()
            assert row is not None
            ids.append(row[0])
        for teacher in ids[1:]:
            conn.execute(
                "INSERT INTO teacher_student_links (teacher_id, student_id) VALUES (%s, %s)",
                (teacher, ids[0]),
            )
    return ids[0]


async def measure(url: str, student: uuid.UUID, n: int) -> dict[str, Any]:
    limits = RateLimits(HIGH)
    key = str(student)
    async with await psycopg.AsyncConnection.connect(
        url, autocommit=True, row_factory=dict_row
    ) as conn:

        async def one_by_one() -> None:
            await users.get_by_id(conn, key)
            await limits.charge(conn, "api", key)
            await limits.charge(conn, "rag", key)
            await generations(conn, await scope_for(conn, student, "student"))

        async def two_steps() -> None:
            await users.get_by_id(conn, key)
            await limits.charge_all(conn, [("api", key), ("rag", key)], [])
            await scope_with_generations(conn, student, "student")

        async def one_round_trip() -> None:
            trip = RoundTrip()
            row = trip.add(users.by_id(key))
            charges = limits.prepare(conn, [("api", key), ("rag", key)])
            granted = trip.add(charges.statement)
            trip.add(scope_statement(student, "student"))
            await trip.run(conn)
            assert row.value is not None
            await charges.settle(granted.value, [])

        ways: dict[str, Callable[[], Awaitable[None]]] = {
            "one_by_one": one_by_one,
            "two_steps": two_steps,
            "one_round_trip": one_round_trip,
        }
        samples: dict[str, list[float]] = {name: [] for name in ways}
        rounds = 10
        for _ in range(rounds):
            for name, way in ways.items():
                for _ in range(n // rounds):
                    started = time.perf_counter()
                    await way()
                    samples[name].append(time.perf_counter() - started)
    return {name: latency_summary(s) for name, s in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_question_reads")
    parser.add_argument("--n", type=int, default=3000, help="questions per way")
    parser.add_argument("--teachers", type=int, default=2, help="the student's linked teachers")
    args = parser.parse_args(argv)
    url, database = benchmark_database(Path(tempfile.mkdtemp(prefix="bench-reads-")))
    student = _student_with_teachers(url, args.teachers)
    print(f"==> {args.n} questions' reads each way, interleaved", flush=True)
    figures = asyncio.run(measure(url, student, args.n))
    command = "make bench-question-reads"
    run = record(
        "question-reads",
        command,
        "loadtest.bench_question_reads",
        argv or [],
        database=database,
        teachers=args.teachers,
        **figures,
    )
    print(json.dumps(run, indent=2))
    one, two, trip = figures["one_by_one"], figures["two_steps"], figures["one_round_trip"]
    append_run(
        RESULTS,
        "bench-question-round-trips",
        run,
        "| timestamp | one by one (5 round trips) p50 / p95 ms "
        "| two steps (3 round trips) p50 / p95 ms | one round trip p50 / p95 ms "
        "| load avg | command |\n"
        "|---|---|---|---|---|---|\n",
        f"| {run['timestamp']} | {one['p50_ms']} / {one['p95_ms']} | "
        f"{two['p50_ms']} / {two['p95_ms']} | {trip['p50_ms']} / {trip['p95_ms']} | "
        f"{run['machine']['load_average_1m_at_end']} | `{command}` |\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
