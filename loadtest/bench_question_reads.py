"""`make bench-question-reads`: what every question costs in statements before its cache lookup.

A student's question charges two rate-limit buckets (`api`, `rag`) and reads the student's scope
(their teachers) and that scope's knowledge generations. This measures, on one connection to
PostgreSQL (DATABASE_URL, or a throwaway embedded server), the two ways the code can do it,
interleaved in rounds so both see the same machine load:

- one by one: `RateLimits.charge` twice, `scope_for`, then `generations` (four round trips);
- together: `RateLimits.charge_all` and `scope_with_generations` (two round trips), what the
  question path runs.

Writes loadtest/results/bench-question-reads-<timestamp>.json and appends a row to
bench-question-reads.md.
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
from service.cache.generations import generations, scope_with_generations
from service.core.config import REPO_ROOT, RateLimitSettings
from service.ratelimit import RateLimits

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
            await limits.charge(conn, "api", key)
            await limits.charge(conn, "rag", key)
            await generations(conn, await scope_for(conn, student, "student"))

        async def together() -> None:
            await limits.charge_all(conn, [("api", key), ("rag", key)], [])
            await scope_with_generations(conn, student, "student")

        ways: dict[str, Callable[[], Awaitable[None]]] = {
            "one_by_one": one_by_one,
            "together": together,
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
    one, both = figures["one_by_one"], figures["together"]
    append_run(
        RESULTS,
        "bench-question-reads",
        run,
        "| timestamp | one by one (4 round trips) p50 / p95 ms "
        "| together (2 round trips) p50 / p95 ms | load avg | command |\n"
        "|---|---|---|---|---|\n",
        f"| {run['timestamp']} | {one['p50_ms']} / {one['p95_ms']} | "
        f"{both['p50_ms']} / {both['p95_ms']} | "
        f"{run['machine']['load_average_1m_at_end']} | `{command}` |\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
