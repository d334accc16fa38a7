"""`python -m devtools.evals.lexical_budget [--out DIR]`: the lexical leg's budget against its
recall and latency, per role scope, on the 100k study's database and the dev questions.

Run after `python -m devtools.evals --ann`, which leaves its 100,000 synthetic chunks in the
`eval_ann` database of the eval server. The questions are the dev sets' (worded as students ask;
the held-out sets are only reported, never swept). Recall@10 is against BM25 over every matching
chunk in the scope; latency is the lexical leg alone, one query at a time, after a warm pass.
Writes results.json, report.md and budget.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.sql import Composable

from devtools import REPO_ROOT
from devtools.evals import eval_server
from devtools.evals.ann import GROUPS, ROLES, exhaustive_lexical, role_scope
from devtools.evals.metrics import percentile
from devtools.evals.querysets import SHIPPED, load
from devtools.evals.querysets import role as set_role
from devtools.evals.report import table
from devtools.evals.retrieval_eval import open_pool
from devtools.postgres import database_url
from service.core.config import SearchSettings, Settings
from service.embeddings.factory import get_embedder
from service.search.lexical import lexical_leg, postings_for
from service.search.plan import configured_plan

BUDGETS = (1000, 2000, 3000, 5000, 8000)
DEV = tuple(f for f in SHIPPED if set_role(f.stem).startswith("dev"))


async def study(pool: Any, model: str) -> tuple[int, dict[str, Any]]:
    """The 100k study's chunk count and its owners by group (users eval-<group>@example.com,
    devtools/evals/ann.py)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) AS n FROM document_chunks WHERE embedding_model = %s", (model,)
        )
        row = await cur.fetchone()
        total = int(row["n"]) if row else 0
        if total == 0:
            raise SystemExit(
                f"this database has no chunks of {model}: run `python -m devtools.evals --ann`, "
                "which leaves them in eval_ann, or pass --db-name"
            )
        cur = await conn.execute(
            "SELECT id, email FROM users WHERE email LIKE 'eval-%%@example.com'"
        )
        owners = {r["email"][5:].split("@")[0]: r["id"] for r in await cur.fetchall()}
    return total, owners


async def measure(
    conn: Any, statement: Composable, args: dict[str, Any], questions: list[str],
    truth: list[set[int]],
) -> dict[str, float]:  # fmt: skip
    """One way of running the lexical leg over every question: recall@10 against `truth`, and
    its latency one query at a time after a warm pass."""
    lat: list[float] = []
    found = expected = 0
    for warm in (True, False):
        for text, want in zip(questions, truth, strict=True):
            t0 = time.perf_counter()
            cur = await conn.execute(statement, {**args, "qt": text, "fk": 40}, prepare=False)
            got = [r["id"] for r in await cur.fetchall()][:10]
            if not warm:
                lat.append((time.perf_counter() - t0) * 1000)
                found += len(set(got) & want)
                expected += len(want)
    return {
        "recall@10": found / max(1, expected),
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
    }


async def sweep(
    url: str, model: str, search: SearchSettings, budgets: tuple[int, ...]
) -> dict[str, Any]:
    questions = [q.query for f in DEV for q in load(f)]
    pool = await open_pool(url, max_size=1)
    roles: dict[str, Any] = {}
    try:
        total, owners = await study(pool, model)
        for name, (own, groups) in ROLES.items():
            scope = role_scope(own, owners)
            rows = round(total * sum(GROUPS[g] for g in groups))
            # The leg's shape depends only on whether the vector leg is exact (a small scope).
            plan = configured_plan(
                search, scope_rows=rows, total_rows=total, iterative_available=True
            )
            truth = [set(t) for t in await exhaustive_lexical(pool, model, scope, questions, 10)]
            points = []
            async with pool.connection() as conn:
                for budget in budgets:
                    args = {"budget": budget, "postings": postings_for(budget, rows, total)}
                    point = await measure(
                        conn, lexical_leg(model, scope, plan), args, questions, truth
                    )
                    points.append({"budget": budget, **point})
                    print(
                        f"  {name}: budget {budget} recall@10 {point['recall@10']:.3f} "
                        f"p95 {point['p95_ms']:.1f} ms",
                        flush=True,
                    )
            roles[name] = {"scope_rows": rows, "small_scope": plan.kind == "exact",
                           "points": points}  # fmt: skip
    finally:
        await pool.close()
    return {"rows": total, "questions": len(questions), "sets": [f.stem for f in DEV],
            "roles": roles}  # fmt: skip


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    rows = [
        [name, p["budget"], p["recall@10"], p["p50_ms"], p["p95_ms"]]
        for name, r in result["roles"].items()
        if not r["small_scope"]
        for p in r["points"]
    ]
    small = [n for n, r in result["roles"].items() if r["small_scope"]]
    md = [
        *header(result, "budget against recall and latency"),
        "`SEARCH_LEXICAL_BUDGET` is 2000.",
        "",
        table(["role", "budget", "recall@10", "p50 ms", "p95 ms"], rows),
        "",
        f"Not shown: {', '.join(small)}, whose scopes are scored whole (exact whatever the "
        "budget).",
        "",
        "![recall against P95 per budget](budget.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(md))
    chart(result, out / "budget.png")


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in result["roles"].items():
        if r["small_scope"]:
            continue
        xs = [p["p95_ms"] for p in r["points"]]
        ys = [p["recall@10"] for p in r["points"]]
        ax.plot(xs, ys, marker="o", label=name)
        for p in r["points"]:
            ax.annotate(str(p["budget"]), (p["p95_ms"], p["recall@10"]), fontsize=7)
    ax.axhline(0.99, color="tab:red", linestyle="--", label="recall 0.99")
    ax.axvline(10, color="tab:gray", linestyle=":", label="10 ms")
    ax.set_xlabel("lexical leg P95 ms (one query at a time)")
    ax.set_ylabel("recall@10 against exhaustive BM25")
    ax.set_title(f"Lexical budget at {result['rows']:,} chunks, dev questions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def header(result: dict[str, Any], title: str) -> list[str]:
    """A study report's title, command, load and what its figures are (then its own notes)."""
    return [
        f"# Lexical leg: {title} — {result['started_at']}",
        "",
        f"Command: `{result['command']}` (load average {result['load'][0]:.2f} at the start, "
        f"{result['load'][1]:.2f} at the end).",
        "",
        f"{result['rows']:,} synthetic chunks (the 100k study's `eval_ann`); "
        f"{result['questions']} dev questions ({', '.join(result['sets'])}). Recall@10 against "
        "BM25 over every matching chunk in the scope; latency is the lexical leg alone, one "
        "query at a time.",
    ]


def run_study(
    module: str,
    doc: str | None,
    argv: list[str] | None,
    measured: Callable[[str, str, SearchSettings], dict[str, Any]],
) -> tuple[dict[str, Any], Path]:
    """A lexical study's command line: `measured(url, model, search)` on the eval server's
    database, with when, how loaded and by which command; and where its report goes."""
    p = argparse.ArgumentParser(prog=f"python -m {module}", description=doc)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--db-name", default="eval_ann")
    args = p.parse_args(argv)
    settings = Settings()
    server = eval_server(settings.local_dir)
    started = datetime.now(UTC)
    load_start = os.getloadavg()[0]
    url = database_url(server, args.db_name)
    result = measured(url, get_embedder(settings).model, settings.search)
    result |= {
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join([f"python -m {module}", *sys.argv[1:]]),
        "load": [load_start, os.getloadavg()[0]],
    }
    name = module.rsplit(".", 1)[-1].replace("_", "-")
    out = args.out or REPO_ROOT / "loadtest" / "results" / (
        f"{name}-{started.strftime('%Y%m%dT%H%MZ')}"
    )
    return result, out


def main(argv: list[str] | None = None) -> int:
    result, out = run_study(
        "devtools.evals.lexical_budget",
        __doc__,
        argv,
        lambda url, model, search: asyncio.run(sweep(url, model, search, BUDGETS)),
    )
    write(result, out)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
