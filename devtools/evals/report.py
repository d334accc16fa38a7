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


def held_out_table(a: dict[str, Any]) -> str:
    rows = [
        [
            role,
            r["held_out"]["lexical_recall@10"],
            r["held_out"]["hybrid"]["recall@10"],
            # Runs recorded before these two were measured show "-".
            r["held_out"]["hybrid"].get("recall@10_vector_exact", "-"),
            r["held_out"]["hybrid"].get("recall@10_lexical_exact", "-"),
            r["held_out"]["hybrid"]["p50_ms"],
            r["held_out"]["hybrid"]["p95_ms"],
        ]
        for role, r in a["roles"].items()
        if "held_out" in r
    ]
    return table(
        [
            "role",
            "lexical recall@10",
            "hybrid recall@10",
            "with the vector leg exact",
            "with the lexical leg exact",
            "hybrid p50 ms",
            "hybrid p95 ms",
        ],
        rows,
    )


def ann_table(a: dict[str, Any]) -> str:
    rows = [
        [
            role,
            r["scope_rows"],
            f"{r['scope_share']:.1%}",
            r["plan"]["kind"],
            r["vector"]["chosen"]["recall@10"],
            r["lexical"]["recall@10"],
            r["hybrid"]["recall@10"],
            r["hybrid"]["p50_ms"],
            r["hybrid"]["p95_ms"],
        ]
        for role, r in a["roles"].items()
    ]
    return table(
        [
            "role",
            "rows in scope",
            "share",
            "vector plan",
            "vector recall@10",
            "lexical recall@10",
            "hybrid recall@10",
            "hybrid p50 ms",
            "hybrid p95 ms",
        ],
        rows,
    )


def plans_table(a: dict[str, Any]) -> str:
    names = ["exact", "iterative", "hnsw"]
    rows = [
        [role, r["scope_rows"], r["plan"]["kind"]]
        + [
            f"{r['vector'][n]['recall@10']:.3f} / {r['vector'][n]['p50_ms']:.1f} / "
            f"{r['vector'][n]['p95_ms']:.1f}"
            for n in names
        ]
        for role, r in a["roles"].items()
    ]
    return table(
        [
            "role",
            "rows in scope",
            "chosen",
            "exact: recall / p50 / p95 ms",
            "iterative (relaxed + re-sort)",
            "HNSW post-filter",
        ],
        rows,
    )


def lexical_table(a: dict[str, Any]) -> str:
    rows = [
        [
            role,
            r["lexical"]["recall@10"],
            r["lexical"]["p50_ms"],
            r["lexical"]["p95_ms"],
            r["lexical"]["exhaustive_p50_ms"],
            r["lexical"]["exhaustive_p95_ms"],
        ]
        for role, r in a["roles"].items()
    ]
    return table(
        [
            "role",
            "recall@10 vs exhaustive BM25",
            "p50 ms",
            "p95 ms",
            "exhaustive p50 ms",
            "exhaustive p95 ms",
        ],
        rows,
    )


def halfvec_table(a: dict[str, Any]) -> str:
    h = a["halfvec"]
    size = f"halfvec {h['halfvec_bytes'] / 2**20:.0f} MiB vs vector {h['vector_bytes'] / 2**20:.0f} MiB"
    sweep = {s["ef_search"]: s for s in a["sweep"]}
    rows = []
    for e in h["by_ef"]:
        v = sweep.get(e["ef_search"])
        rows.append(
            [
                e["ef_search"],
                e["recall@10"],
                v["recall@10"] if v else "",
                e["p50_ms"],
                v["p50_ms"] if v else "",
                e["p95_ms"],
                v["p95_ms"] if v else "",
            ]
        )
    return f"HNSW index size: {size}; halfvec build {h['build_seconds']:.0f} s.\n\n" + table(
        [
            "ef_search",
            "halfvec recall@10",
            "vector recall@10",
            "halfvec p50 ms",
            "vector p50 ms",
            "halfvec p95 ms",
            "vector p95 ms",
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


def peer_table(p: dict[str, Any]) -> str:
    rows = [
        [
            r["ef_search"],
            r["ours_recall@10"],
            r["ours"]["qps"],
            r["ours"]["p95_ms"],
            r["peer_recall@10"],
            r["peer"]["qps"],
            r["peer"]["p95_ms"],
        ]
        for r in p["sweep"]
    ]
    eq = p["at_recall_0.99"]
    summary = table(
        ["", "ef_search", "recall@10", "QPS", "p50 ms", "p95 ms"],
        [
            [name, e["ef_search"], e["recall@10"], e["qps"], e["p50_ms"], e["p95_ms"]]
            for name, e in (("this service", eq["ours"]), ("Supabase recipe", eq["peer"]))
        ],
    )
    return (
        "At equal recall (the lowest ef_search where each reaches recall@10 >= 0.99 against its "
        "own exact version):\n\n"
        + summary
        + "\n\nThe whole sweep:\n\n"
        + table(
            [
                "ef_search",
                "ours recall@10",
                "ours QPS",
                "ours p95 ms",
                "recipe recall@10",
                "recipe QPS",
                "recipe p95 ms",
            ],
            rows,
        )
    )


def peer_chart(p: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, label in (("ours", "this service"), ("peer", "Supabase recipe")):
        xs = [r[f"{name}_recall@10"] for r in p["sweep"]]
        ys = [r[name]["qps"] for r in p["sweep"]]
        ax.plot(xs, ys, "o-", label=label)
        for r, x, y in zip(p["sweep"], xs, ys, strict=True):
            ax.annotate(f"ef {r['ef_search']}", (x, y), fontsize=7)
    ax.axvline(0.99, color="tab:red", linestyle="--", linewidth=1)
    ax.set_xlabel("recall@10 against its own exact search")
    ax.set_ylabel(f"QPS ({p['clients']} clients)")
    ax.set_title(f"Hybrid search side by side, {p['rows']:,} chunks")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def roles_chart(a: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    roles = list(a["roles"])
    fig, ax = plt.subplots(figsize=(8, 4))
    x = range(len(roles))
    ax.bar([i - 0.2 for i in x], [a["roles"][r]["hybrid"]["p50_ms"] for r in roles], 0.4,
           label="hybrid p50")  # fmt: skip
    ax.bar([i + 0.2 for i in x], [a["roles"][r]["hybrid"]["p95_ms"] for r in roles], 0.4,
           label="hybrid p95")  # fmt: skip
    ax.axhline(10, color="tab:red", linestyle="--", label="target P95 10 ms")
    ax.set_xticks(list(x), roles, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("ms (one query at a time)")
    ax.set_title(f"Hybrid search at {a['rows']:,} chunks per role scope")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def chunking_table(c: dict[str, Any]) -> str:
    rows = [
        [
            r["set"],
            r["role"],
            r["corpus"],
            r["retriever"],
            r["queries"],
            r["recall@1"],
            r["recall@5"],
            r["recall@10"],
            r["mrr"],
            round(r["top5_tokens"]),
        ]
        for r in sorted(c["rows"].values(), key=lambda r: (r["set"], r["retriever"], r["corpus"]))
    ]
    return table(
        ["set", "role", "returned", "retriever", "n", "recall@1", "recall@5", "recall@10",
         "MRR", "tokens in top 5"],
        rows,
    )  # fmt: skip


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
    ch = results.get("chunking")
    if ch:
        u = ch["units"]
        md += [
            "## Chunking for retrieval",
            "",
            f"Books only. `chunks`: today's {u['chunks']} chunks, embedded and returned. "
            f"`windows->parent`: {u['windows']} windows of {ch['window_tokens']} tokens "
            f"({ch['window_overlap']} overlap) embedded and searched, each returning its "
            f"512-token parent ({u['parents']} parents), once per parent. `windows`: the same "
            "windows returned as they are.",
            "",
            chunking_table(ch),
            "",
        ]
    q = results.get("queries")
    if q:
        md += [
            f"## Labelled queries ({q.get('variant', 'hybrid')}, admin scope)",
            "",
            query_table(q),
            "",
        ]
    a = results.get("ann")
    if a:
        md += [
            f"## Hybrid search at {a['rows']:,} chunks, per role scope",
            "",
            a["vectors_note"],
            "",
            "Recall@10 against exact search: the vector leg against exact nearest neighbours in "
            "the scope, the lexical leg against BM25 over every matching chunk, the fused top 10 "
            "against the same fusion of both exact legs. Latency: one query at a time; hybrid "
            "runs its two legs at once on two connections, as the API does for a process's only "
            "cold question (the peer comparison below keeps one connection per client).",
            "",
            ann_table(a),
            "",
            "![hybrid P95 per role](roles.png)",
            "",
        ]
        if a.get("held_out_queries"):
            md += [
                f"### The same, on {a['held_out_queries']} held-out questions worded as students "
                f"ask ({', '.join(a['held_out_sets'])})",
                "",
                "Hofmann's questions above are worded as the book is, so their rare words are "
                "cheap for the lexical leg to find. These are not, and nothing was tuned on them "
                "(the dev sets were used to choose the lexical leg's fallback). Recall is again "
                "against exhaustive BM25 and the exact fusion, on the same plans. The two "
                '"with ... exact" columns fuse one leg\'s exact results with the other '
                "leg's own: where making a leg exact lifts recall to 0.99, that leg is where "
                "the misses come from.",
                "",
                held_out_table(a),
                "",
            ]
        md += [
            "### Vector leg: the plans side by side (recall@10 / p50 / p95)",
            "",
            plans_table(a),
            "",
            "### Lexical leg: posting budget against exhaustive BM25",
            "",
            lexical_table(a),
            "",
            "### halfvec",
            "",
            halfvec_table(a),
            "",
            "## ef_search sweep (unfiltered)",
            "",
            sweep_table(a),
            "",
            "![recall and latency vs ef_search](ef_sweep.png)",
            "",
        ]
        chart(a, out / "ef_sweep.png")
        roles_chart(a, out / "roles.png")
        if a.get("peer"):
            peer_chart(a["peer"], out / "peer.png")
            md += [
                "## Side by side: Supabase's hybrid_search recipe",
                "",
                f"Recipe: {a['peer']['recipe']} (installed as written in schema `peer` over a "
                f"copy of the same {a['peer']['rows']:,} chunks; admin scope; "
                f"{a['peer']['queries']} questions, {a['peer']['clients']} clients at once).",
                "",
                peer_table(a["peer"]),
                "",
                "![QPS against recall](peer.png)",
                "",
            ]
    (out / "report.md").write_text("\n".join(md))
