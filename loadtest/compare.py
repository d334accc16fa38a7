"""Capacity runs side by side: cached answers' P50 and P95 in the hold after the ramp, and the
P95 of the API's own time (`Server-Timing: app`) where the run recorded it.

python -m loadtest.compare --out chart.png LABEL=RUN_DIR [LABEL=RUN_DIR ...]

Each RUN_DIR is a finished capacity run (its capacity.json, written by `loadtest.capacity`);
runs keep the order given, and runs with the same label share a colour.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CACHED = "rag:query:popular"
GOAL_MS = 20.0


def chart(runs: list[tuple[str, Path]], out: Path, title: str) -> None:
    labels = list(dict.fromkeys(label for label, _ in runs))
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (label, run) in enumerate(runs):
        cached = json.loads((run / "capacity.json").read_text())["hold_steady"][CACHED]
        n = labels.index(label)
        colour = colours(n if n < 3 else n + 1)  # tab10's fourth is red, the goal line's colour
        ax.bar(i, cached["p95_ms"], color=colour, label=label)
        ax.plot([i - 0.35, i + 0.35], [cached["p50_ms"]] * 2, color="black")
        if cached.get("app_p95_ms") is not None:
            ax.plot(i, cached["app_p95_ms"], "kv", label="P95 in the API")
    ax.axhline(GOAL_MS, color="red", linestyle="--", label=f"goal: P95 {GOAL_MS:g} ms")
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), fontsize=8)
    ax.set_xticks(range(len(runs)), [run.name for _, run in runs], fontsize=7, rotation=20)
    ax.set_ylabel("cached answers after the ramp, ms\n(bar P95, line P50, triangle P95 in the API)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m loadtest.compare", description=__doc__)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title", default="Capacity hold after the ramp")
    p.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    args = p.parse_args(argv)
    runs = []
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep:
            p.error(f"expected LABEL=RUN_DIR, got {item!r}")
        runs.append((label, Path(path)))
    chart(runs, args.out, args.title)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
