"""`python -m devtools.evals.lexical_alternatives [--out DIR]`: two ways of ranking the lexical
leg's candidates inside an index, both possible on Supabase, against the postings budget the
service runs, per role scope, on the 100k study's database and the dev questions.

- **Sparse HNSW**: pgvector's HNSW index over the chunks' BM25 sparsevecs (inner product). The
  query's IDF sparsevec is the probe, so the index walks towards the highest BM25 scores; scopes
  narrower than everything use the iterative scan, as the vector leg does. Swept over ef_search
  (the rows asked for are the same number).
- **Impact-ordered postings, with the budget's candidates**: a table of (term, weight, chunk)
  with a btree by term and weight descending. Each query term's top N postings by weight are
  summed per chunk as IDF * weight, and the best M chunks join the budget's candidates (rarest
  terms first, `SEARCH_LEXICAL_BUDGET` 2,000) before all are scored exactly. N and M are divided
  by the scope's share of the chunks, as the budget's postings are. On its own (without the
  budget's candidates) it did worse than the budget at equal cost in a first try, so the sweep
  shows the union.

Both structures are built in `eval_ann` for the run (their build time and size are recorded) and
dropped at the end. Recall@10 is against BM25 over every matching chunk in the scope, latency is
the lexical leg alone, one query at a time, after a warm pass (`lexical_budget.measure`). Run
after `python -m devtools.evals --ann`. Writes results.json, report.md and alternatives.png.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from devtools.evals.ann import GROUPS, ROLES, exhaustive_lexical, role_scope
from devtools.evals.lexical_budget import BUDGETS, DEV, header, measure, run_study, study
from devtools.evals.querysets import load
from devtools.evals.report import table
from devtools.evals.retrieval_eval import open_pool
from service.access.scope import AccessScope
from service.core.config import SearchSettings
from service.search.lexical import (
    DEFAULT_BUDGET,
    PICKED_TERMS,
    QUERY_TERMS,
    budgeted,
    lexical_leg,
    postings_for,
)
from service.search.plan import VectorPlan, configured_plan

EF_SEARCH = (100, 200, 400, 800)
# (postings per term N, chunks M), both for a scope holding every chunk.
IMPACT = ((200, 50), (500, 100), (1000, 200), (2000, 500))

# pgvector indexes a sparsevec only with its dimensions declared; search_term_id's range.
_SPARSE = sql.SQL("c.bm25::sparsevec(1000000000)")
POSTINGS = "lexical_alt_postings"
BUILD = {
    "sparse_hnsw": [
        "CREATE INDEX lexical_alt_sparse_hnsw ON document_chunks USING hnsw "
        "((bm25::sparsevec(1000000000)) sparsevec_ip_ops)",
    ],
    "impact_postings": [
        # A chunk's (term, weight) pairs, read back from its sparsevec's text form as
        # search_term_ids (0020_lexical_search.sql) reads its terms.
        "CREATE UNLOGGED TABLE lexical_alt_postings AS "
        "SELECT split_part(e, ':', 1)::integer AS term_id, split_part(e, ':', 2)::real AS w, "
        "c.id AS chunk_id FROM document_chunks AS c, "
        "unnest(string_to_array(btrim(split_part(c.bm25::text, '/', 1), '{}'), ',')) AS e",
        "CREATE INDEX lexical_alt_postings_idx ON lexical_alt_postings "
        "(term_id, w DESC) INCLUDE (chunk_id)",
        "VACUUM ANALYZE lexical_alt_postings",
    ],
}
SIZES = {
    "sparse_hnsw": "SELECT pg_relation_size('lexical_alt_sparse_hnsw')",
    "impact_postings": "SELECT pg_total_relation_size('lexical_alt_postings')",
}
DROP = ["DROP INDEX IF EXISTS lexical_alt_sparse_hnsw", "DROP TABLE IF EXISTS lexical_alt_postings"]


def build(conn: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
    """Both structures over the database's chunks (an autocommit connection): seconds and bytes."""
    conn.execute("SET maintenance_work_mem = '1GB'")
    conn.execute("SET max_parallel_maintenance_workers = 1")
    out = {}
    for name, statements in BUILD.items():
        t0 = time.perf_counter()
        for statement in statements:
            conn.execute(statement.encode())
        row = conn.execute(SIZES[name].encode()).fetchone()
        out[name] = {"seconds": time.perf_counter() - t0, "bytes": float(row[0] if row else 0)}
    return out


def drop(conn: psycopg.Connection[Any]) -> None:
    for statement in DROP:
        conn.execute(statement.encode())


def sparse_hnsw_candidates(model: str, scope: AccessScope) -> sql.Composed:
    """The top %(fk)s by BM25 among the %(lim)s chunks in scope the sparse HNSW index finds
    nearest the query's IDF vector (params qt, lim; hnsw.ef_search set by the caller)."""
    return sql.SQL(
        """WITH {terms}
SELECT f.id, f.score FROM (
    SELECT c.id, -(c.bm25 <#> w.v) AS score FROM document_chunks AS c, weights AS w
    WHERE c.embedding_model = {model} AND {scope}
    ORDER BY {sparse} <#> (SELECT v FROM weights)
    LIMIT %(lim)s
) AS f
ORDER BY f.score DESC, f.id
LIMIT %(fk)s"""
    ).format(terms=QUERY_TERMS, sparse=_SPARSE, model=sql.Literal(model), scope=scope.sql("c"))


def impact_union_candidates(model: str, scope: AccessScope) -> sql.Composed:
    """The budget's candidates (params budget, postings) and the %(m)s chunks with the highest
    IDF-weighted sum over each query term's top %(n)s postings by weight, scored exactly."""
    return sql.SQL(
        """WITH {terms}, {picked},
idf AS (
    SELECT term_id, sum(ln(1 + (c.chunks - df + 0.5) / (df + 0.5))) AS idf
    FROM terms, search_corpus AS c WHERE df > 0 GROUP BY term_id
),
{budgeted},
impact AS (
    SELECT p.chunk_id AS id FROM idf AS q, LATERAL (
        SELECT chunk_id, w FROM {postings} WHERE term_id = q.term_id ORDER BY w DESC LIMIT %(n)s
    ) AS p
    GROUP BY p.chunk_id ORDER BY sum(q.idf * p.w) DESC LIMIT %(m)s
),
found AS (SELECT id FROM budgeted UNION SELECT id FROM impact)
SELECT c.id, -(c.bm25 <#> w.v) AS score
FROM found JOIN document_chunks AS c USING (id), weights AS w
WHERE c.embedding_model = {model} AND {scope}
ORDER BY score DESC, c.id
LIMIT %(fk)s"""
    ).format(
        terms=QUERY_TERMS,
        picked=PICKED_TERMS,
        budgeted=budgeted(model, scope),
        postings=sql.Identifier(POSTINGS),
        model=sql.Literal(model),
        scope=scope.sql("c"),
    )


@dataclass(frozen=True)
class Variant:
    """One point of the sweep: a method at one parameter, the index its plan must read (None
    for the budget, which reads the service's own), and session settings to run it under."""

    method: str
    parameter: str
    statement: sql.Composed
    params: dict[str, Any]
    reads: str | None = None
    settings: tuple[str, ...] = ()


def variants(model: str, scope: AccessScope, plan: VectorPlan) -> Iterator[Variant]:
    """Every point of the sweep for a scope and the plan the service runs for it."""
    rows, total = plan.scope_rows, plan.total_rows
    for budget in BUDGETS:
        args = {"budget": budget, "postings": postings_for(budget, rows, total)}
        yield Variant("postings budget", str(budget), lexical_leg(model, scope, plan), args)
    iterative = "off" if scope.everything else "relaxed_order"
    for ef in EF_SEARCH:
        yield Variant(
            "sparse HNSW",
            f"ef {ef}",
            sparse_hnsw_candidates(model, scope),
            {"lim": ef},
            reads="lexical_alt_sparse_hnsw",
            settings=(f"SET hnsw.ef_search = {ef}", f"SET hnsw.iterative_scan = {iterative}"),
        )
    share = rows / total
    for n, m in IMPACT:
        args = {
            "budget": DEFAULT_BUDGET,
            "postings": postings_for(DEFAULT_BUDGET, rows, total),
            "n": round(n / share),
            "m": round(m / share),
        }
        yield Variant(
            "impact postings + budget",
            f"N {n} M {m}",
            impact_union_candidates(model, scope),
            args,
            reads="lexical_alt_postings_idx",
        )


async def _uses_its_index(conn: Any, variant: Variant, question: str) -> None:
    """The latency measured must be the structure's: stop if the plan doesn't read it."""
    if variant.reads is None:
        return
    args = {**variant.params, "qt": question, "fk": 40}
    cur = await conn.execute(sql.SQL("EXPLAIN ") + variant.statement, args, prepare=False)
    plan = "\n".join(str(next(iter(r.values()))) for r in await cur.fetchall())
    if variant.reads not in plan:
        raise SystemExit(f"{variant.method}: the plan does not read {variant.reads}:\n{plan}")


async def sweep(url: str, model: str, search: SearchSettings) -> dict[str, Any]:
    questions = [q.query for f in DEV for q in load(f)]
    pool = await open_pool(url, max_size=1)
    roles: dict[str, Any] = {}
    try:
        total, owners = await study(pool, model)
        for name, (own, groups) in ROLES.items():
            rows = round(total * sum(GROUPS[g] for g in groups))
            plan = configured_plan(
                search, scope_rows=rows, total_rows=total, iterative_available=True
            )
            if plan.kind == "exact":
                continue  # a small scope is scored whole: exact already
            scope = role_scope(own, owners)
            truth = [set(t) for t in await exhaustive_lexical(pool, model, scope, questions, 10)]
            points = []
            async with pool.connection() as conn:
                for v in variants(model, scope, plan):
                    for setting in v.settings:
                        await conn.execute(setting.encode())
                    await _uses_its_index(conn, v, questions[0])
                    point = await measure(conn, v.statement, v.params, questions, truth)
                    await conn.execute(b"RESET ALL")
                    points.append({"method": v.method, "parameter": v.parameter, **point})
                    print(
                        f"  {name}: {v.method} {v.parameter}: recall@10 "
                        f"{point['recall@10']:.3f} p95 {point['p95_ms']:.1f} ms",
                        flush=True,
                    )
            roles[name] = {"scope_rows": rows, "points": points}
    finally:
        await pool.close()
    return {"rows": total, "questions": len(questions), "sets": [f.stem for f in DEV],
            "roles": roles}  # fmt: skip


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2))
    rows = [
        [name, p["method"], p["parameter"], p["recall@10"], p["p50_ms"], p["p95_ms"]]
        for name, r in result["roles"].items()
        for p in r["points"]
    ]
    built = [
        [name, f"{b['seconds']:.0f} s", f"{b['bytes'] / 2**20:.0f} MB"]
        for name, b in result["built"].items()
    ]
    md = [
        *header(result, "candidates ranked in an index against the postings budget"),
        "What each method is: the module's docstring (`devtools/evals/lexical_alternatives.py`).",
        "",
        "Built for the run, then dropped (the chunk table is about 650 MB):",
        "",
        table(["structure", "build", "size"], built),
        "",
        table(["role", "method", "parameter", "recall@10", "p50 ms", "p95 ms"], rows),
        "",
        "Small scopes (scored whole, exact) are not shown.",
        "",
        "![recall against P95 per method](alternatives.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(md))
    chart(result, out / "alternatives.png")


def chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["roles"])
    cols = 2
    rows = -(-len(names) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(10, 4 * rows), squeeze=False)
    axes = grid.flatten()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names, strict=False):
        points = result["roles"][name]["points"]
        for method in dict.fromkeys(p["method"] for p in points):
            mine = [p for p in points if p["method"] == method]
            ax.plot([p["p95_ms"] for p in mine], [p["recall@10"] for p in mine], marker="o",
                    label=method)  # fmt: skip
            for p in mine:
                ax.annotate(p["parameter"], (p["p95_ms"], p["recall@10"]), fontsize=6)
        ax.axhline(0.99, color="tab:red", linestyle="--", linewidth=0.8)
        ax.axvline(10, color="tab:gray", linestyle=":", linewidth=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("lexical leg P95 ms")
        ax.set_ylabel("recall@10 against exhaustive BM25")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Lexical candidates at {result['rows']:,} chunks, dev questions", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def measured(url: str, model: str, search: SearchSettings) -> dict[str, Any]:
    """Both structures built, the sweep, both dropped (also when the sweep fails)."""
    with psycopg.connect(url, autocommit=True) as conn:
        drop(conn)
        print("  building the sparse HNSW index and the postings table...", flush=True)
        built = build(conn)
        try:
            result = asyncio.run(sweep(url, model, search))
        finally:
            drop(conn)
    return result | {"built": built}


def main(argv: list[str] | None = None) -> int:
    result, out = run_study("devtools.evals.lexical_alternatives", __doc__, argv, measured)
    write(result, out)
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
