"""Compares `make eval` runs on the paraphrase sets: one table per set and a chart against the goals.

    python -m devtools.evals.quality_chart --run "label=path/to/results.json" [--run ...] --out DIR

Each run is a `results.json` written by `python -m devtools.evals`. Dev and held-out sets stay on
separate rows and panels; the goal lines are the issue's (recall@10 0.92, MRR 0.70).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

GOALS = {"recall@10": 0.92, "mrr": 0.70}
SETS = ("cooke-dev", "cooke-test", "student-dev", "student-test", "hofmann")
COLUMNS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")


def _runs(specs: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for spec in specs:
        label, _, path = spec.partition("=")
        out[label] = json.loads(Path(path).read_text())["queries"]["files"]
    return out


def tables(runs: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for name in SETS:
        present = {label: files[name] for label, files in runs.items() if name in files}
        if not present:
            continue
        role = next(iter(present.values())).get("role", "")
        n = next(iter(present.values()))["queries"]
        lines += [
            f"**{name}** ({role}, n = {n})",
            "",
            "| configuration | " + " | ".join(COLUMNS) + " | top-1 quotes the question |",
            "|---|" + "---|" * (len(COLUMNS) + 1),
        ]
        for label, f in present.items():
            cells = " | ".join(f"{f[c]:.3f}" for c in COLUMNS)
            lines.append(f"| {label} | {cells} | {f.get('question_echo@1', 0):.3f} |")
        lines.append("")
    return "\n".join(lines)


def chart(runs: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [s for s in SETS[:4] if any(s in files for files in runs.values())]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    width = 0.8 / max(1, len(runs))
    for ax, metric in zip(axes, ("recall@10", "mrr"), strict=True):
        for i, (label, files) in enumerate(runs.items()):
            xs = [j + i * width for j in range(len(sets))]
            ys = [files[s][metric] if s in files else 0 for s in sets]
            bars = ax.bar(xs, ys, width, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=7)
        ax.axhline(GOALS[metric], color="black", linestyle="--", linewidth=1)
        ax.text(len(sets) - 0.5, GOALS[metric] + 0.01, f"goal {GOALS[metric]}", fontsize=8)
        ax.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(sets))], sets)
        ax.set_title(metric)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("Paraphrase sets: dev (tuning) and held-out (report only)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.evals.quality_chart")
    parser.add_argument("--run", action="append", required=True, help="label=results.json")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = _runs(args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    chart(runs, args.out / "paraphrase-quality.png")
    md = "Command: `python -m devtools.evals.quality_chart " + shlex.join(sys.argv[1:]) + "`\n\n"
    (args.out / "paraphrase-quality.md").write_text(md + tables(runs))
    print(md + tables(runs))


if __name__ == "__main__":
    main()
