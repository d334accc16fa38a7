"""`python -m loadtest.probe`: where a RAG answer's time goes, from the API's own `timings_ms`.

Sends N questions one at a time (no concurrency: this isolates service time from queueing) and
prints client latency and the server's per-stage timings (embed, search, rerank, llm, total) as
P50/P95, for unseen questions (cold caches) and then the same questions again (warm).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import httpx

from devtools.devstack.edge import origin_headers
from loadtest.accounts import PASSWORD, email_for
from loadtest.queries import build_query_sets


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def probe(host: str, queries: list[str], token: str) -> dict[str, list[float]]:
    stages: dict[str, list[float]] = {"client": []}
    with httpx.Client(base_url=host, timeout=60, headers=origin_headers(host)) as client:
        for query in queries:
            started = time.perf_counter()
            resp = client.post(
                "/api/chat/query",
                json={"query": query, "stream": False},
                headers={"Authorization": f"Bearer {token}"},
            )
            resp.raise_for_status()
            stages["client"].append((time.perf_counter() - started) * 1000)
            for name, ms in resp.json().get("timings_ms", {}).items():
                stages.setdefault(name, []).append(float(ms))
    return stages


def render(label: str, stages: dict[str, list[float]]) -> str:
    lines = [f"{label} ({len(stages['client'])} questions, sequential)"]
    for name, values in stages.items():
        lines.append(
            f"  {name:<10} p50 {statistics.median(values):7.1f} ms   p95 {_pct(values, 0.95):7.1f} ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.probe", description=__doc__)
    parser.add_argument("--host", default="http://127.0.0.1:8080")
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--skip", type=int, default=0, help="start further back in the pool")
    parser.add_argument("--email", default=email_for("student", 0))
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.host, timeout=60, headers=origin_headers(args.host)) as client:
        login = client.post("/api/auth/login", json={"email": args.email, "password": PASSWORD})
        login.raise_for_status()
        token = login.json()["access_token"]
    # The pool's tail: questions the load test is least likely to have asked already.
    pool = build_query_sets().pool
    queries = pool[len(pool) - args.skip - args.n : len(pool) - args.skip]
    print(render("cold (unseen)", probe(args.host, queries, token)))
    print(render("warm (same questions again)", probe(args.host, queries, token)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
