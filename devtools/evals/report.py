"""Writes eval results: JSON (everything), Markdown tables, and a recall/latency vs ef_search chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def query_table(q: dict[str, Any]) -> str:
    k = q["k"]
    cols = ["recall@1", "recall@5", f"recall@{k}", "mrr", f"ndcg@{k}"]
    rows = [
        [
            name,
            f.get("role", ""),
            f["queries"],
            *(f[c] for c in cols),
            f.get("question_echo@1", ""),
            f["search_p50_ms"],
            f["search_p95_ms"],
        ]
        for name, f in q["files"].items()
    ]
    # No "overall" row: the sets answer different questions (regression, tuning, held out).
    return table(
        ["query set", "role", "n", *cols, "top-1 quotes the question", "p50 ms", "p95 ms"], rows
    )


def ann_table(a: dict[str, Any]) -> str:
    rows = [
        [
            role,
            r["scope_rows"],
            f"{r['scope_share']:.1%}",
            r["plan"]["kind"],
            r["plan"]["ef_search"],
            r["recall@10"],
            r["naive_recall@10"],
            r["vector_p50_ms"],
            r["vector_p95_ms"],
            r["hybrid_p50_ms"],
            r["hybrid_p95_ms"],
        ]
        for role, r in a["roles"].items()
    ]
    return table(
        [
            "role",
            "rows in scope",
            "share",
            "plan",
            "ef_search",
            "recall@10",
            "naive HNSW recall@10",
            "vector p50 ms",
            "vector p95 ms",
            "hybrid p50 ms",
            "hybrid p95 ms",
        ],
        rows,
    )


def sweep_table(a: dict[str, Any]) -> str:
    rows = [[s["ef_search"], s["recall@10"], s["p50_ms"], s["p95_ms"]] for s in a["sweep"]]
    return table(["ef_search", "recall@10 (unfiltered)", "p50 ms", "p95 ms"], rows)


def chart(a: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ef = [s["ef_search"] for s in a["sweep"]]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(ef, [s["recall@10"] for s in a["sweep"]], "o-", color="tab:blue", label="recall@10")
    ax1.set_xlabel("hnsw.ef_search")
    ax1.set_ylabel("recall@10 vs exact", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(ef, [s["p50_ms"] for s in a["sweep"]], "s--", color="tab:orange", label="p50 ms")
    ax2.plot(ef, [s["p95_ms"] for s in a["sweep"]], "^--", color="tab:red", label="p95 ms")
    ax2.set_ylabel("latency (ms)")
    fig.legend(loc="lower right", bbox_to_anchor=(0.86, 0.2))
    ax1.set_title(f"HNSW at {a['rows']:,} vectors (unfiltered)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    md = [f"# Retrieval eval — {results['started_at']}", "", f"Command: `{results['command']}`", ""]
    c = results.get("corpus")
    if c:
        md += [
            "## Corpus",
            "",
            f"{c['documents']} documents, {c['chunks']} chunks, "
            f"model `{c['model']}`, ingested in {c['seconds']:.0f} s.",
            "",
        ]
    q = results.get("queries")
    if q:
        md += ["## Labelled queries (hybrid search, admin scope)", "", query_table(q), ""]
    a = results.get("ann")
    if a:
        md += [
            "## ANN recall@10 against exact search, per role scope",
            "",
            a["vectors_note"],
            "",
            ann_table(a),
            "",
            "## ef_search sweep (unfiltered)",
            "",
            sweep_table(a),
            "",
            "![recall and latency vs ef_search](ef_sweep.png)",
            "",
        ]
        chart(a, out / "ef_sweep.png")
    (out / "report.md").write_text("\n".join(md))
