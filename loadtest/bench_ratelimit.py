"""`make bench-ratelimit`: what the PostgreSQL-backed rate limiter costs per request.

Two measurements against PostgreSQL (DATABASE_URL, or a throwaway embedded server):

1. The limiter alone: `RateLimits.charge` (one UPSERT on the request's connection) against a
   bare `SELECT 1` round trip on the same connection, sequentially and from 16 concurrent
   connections on one key (the worst case: every charge contends for one row lock).
2. The whole request: `GET /api/auth/me` on two instances of the real app, limits on and off,
   interleaved so both see the same machine load.

Writes loadtest/results/bench-ratelimit-<timestamp>.json and appends a row to
bench-ratelimit.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from devtools.figures import append_run, latency_summary, record
from devtools.live_server import LiveServer
from devtools.postgres import benchmark_database
from service.app import create_app
from service.core.config import REPO_ROOT, RateLimitSettings, Settings
from service.ratelimit import RateLimits

RESULTS = REPO_ROOT / "loadtest" / "results"
HIGH = RateLimitSettings(api="100000000/hour")


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


async def limiter_alone(url: str, n: int) -> dict[str, Any]:
    limits = RateLimits(HIGH)
    async with await _connect(url) as conn:
        baseline, charge = [], []
        for i in range(n):
            key = f"bench-{i % 100}"  # 100 users' worth of rows
            t = time.perf_counter()
            await conn.execute("SELECT 1")
            baseline.append(time.perf_counter() - t)
            t = time.perf_counter()
            await limits.charge(conn, "api", key)
            charge.append(time.perf_counter() - t)

    async def contend(worker: int, out: list[float]) -> None:
        async with await _connect(url) as conn:
            for _ in range(n // 16):
                t = time.perf_counter()
                await limits.charge(conn, "api", "one-hot-user")
                out.append(time.perf_counter() - t)

    hot: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(contend(w, hot) for w in range(16)))
    hot_seconds = time.perf_counter() - started
    return {
        "select_1": latency_summary(baseline),
        "charge": latency_summary(charge),
        "charge_one_key_16_connections": latency_summary(hot),
        "charges_per_second_one_key_16_connections": round(len(hot) / hot_seconds, 1),
    }


def whole_request(url: str, tmp: Path, n: int) -> dict[str, Any]:
    def settings(enabled: bool) -> Settings:
        return Settings.with_values(
            environment="test",
            database_url=url,
            local_dir=tmp,
            log_level="WARNING",
            embedding_warmup=False,
            rate_limit_enabled=enabled,
            rate_limit_api="100000000/hour",
        )

    timings: dict[str, list[float]] = {"on": [], "off": []}
    with (
        LiveServer(create_app(settings(True))) as on,
        LiveServer(create_app(settings(False))) as off,
    ):
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        with httpx.Client(base_url=on.url, timeout=30) as http:
            http.post(
                "/api/auth/register",
                json={
                    "email": email,
                    "password": "bench-password",
                    "display_name": "b",
                    "role": "student",
                },
            ).raise_for_status()
            token = http.post(
                "/api/auth/login", json={"email": email, "password": "bench-password"}
            ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=30) as http:
            for _label, server in (("on", on), ("off", off)):  # warm both
                for _ in range(50):
                    http.get(f"{server.url}/api/auth/me", headers=headers)
            for _ in range(n):
                for name, server in (("on", on), ("off", off)):
                    t = time.perf_counter()
                    r = http.get(f"{server.url}/api/auth/me", headers=headers)
                    timings[name].append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
            assert "RateLimit-Remaining" in r.headers or name == "off"
    on_s, off_s = latency_summary(timings["on"]), latency_summary(timings["off"])
    return {
        "limits_on": on_s,
        "limits_off": off_s,
        "added_p50_ms": round(on_s["p50_ms"] - off_s["p50_ms"], 4),
        "added_p95_ms": round(on_s["p95_ms"] - off_s["p95_ms"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_ratelimit")
    parser.add_argument("--n", type=int, default=2000, help="samples per measurement")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    url, database = benchmark_database(tmp)
    print(f"==> limiter alone ({args.n} charges)", flush=True)
    alone = asyncio.run(limiter_alone(url, args.n))
    print(f"==> GET /api/auth/me, limits on vs off ({args.n} each)", flush=True)
    request = whole_request(url, tmp, args.n)
    command = "make bench-ratelimit"
    run = record(
        "ratelimit",
        command,
        "loadtest.bench_ratelimit",
        argv or [],
        database=database,
        limiter_alone=alone,
        whole_request=request,
    )
    print(json.dumps(run, indent=2))
    append_run(
        RESULTS,
        "bench-ratelimit",
        run,
        "| timestamp | SELECT 1 p50 ms | charge p50 / p95 ms | one key, 16 conns p50 / p95 ms "
        "| /api/auth/me on vs off p50 ms | added p50 / p95 ms | load avg | command |\n"
        "|---|---|---|---|---|---|---|---|\n",
        f"| {run['timestamp']} | {alone['select_1']['p50_ms']} | {alone['charge']['p50_ms']} / "
        f"{alone['charge']['p95_ms']} | {alone['charge_one_key_16_connections']['p50_ms']} / "
        f"{alone['charge_one_key_16_connections']['p95_ms']} | "
        f"{request['limits_on']['p50_ms']} vs {request['limits_off']['p50_ms']} | "
        f"{request['added_p50_ms']} / {request['added_p95_ms']} | "
        f"{run['machine']['load_average_1m_at_end']} | `{command}` |\n",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
