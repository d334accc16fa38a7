"""The run's Markdown summary and its chart (latency percentiles and users over time)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from loadtest.gate import Check, breaches
from loadtest.stats import AGGREGATED, ClassStats, HistoryPoint, RunStats
from loadtest.thresholds import Thresholds


@dataclass
class RunInfo:
    host: str
    profile: str
    scenario: str
    scale: float
    peak_users: int
    command: str
    notes: list[str] = field(default_factory=list)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def _class_row(c: ClassStats) -> str:
    return (
        f"| `{c.name}` | {c.requests} | {c.failures} ({c.error_ratio:.2%}) | {c.rps:.2f} | "
        f"{_ms(c.p50_ms)} | {_ms(c.p95_ms)} | {_ms(c.p99_ms)} | {_ms(c.max_ms)} |"
    )


def llm_budget_lines(run: RunStats, thresholds: Thresholds) -> list[str]:
    """Retrieval measured here + the spec's provider time: the budget a real LLM answer has."""
    if thresholds.llm_provider_p95_ms is None:
        return []
    rag = [c for c in run.classes if c.name.startswith("rag:") and c.requests]
    if not rag:
        return []
    p95p = float(thresholds.llm_provider_p95_ms)
    p99p = float(thresholds.llm_provider_p99_ms or p95p)
    lines = [
        "",
        "## LLM-inclusive budget (not gated)",
        "",
        f"Measured retrieval path + the spec's provider time (P95 {p95p:.0f} ms, P99 {p99p:.0f} ms; "
        "a conservative sum, since percentiles do not add).",
        "",
        "| class | retrieval P95 | + provider P95 | retrieval P99 | + provider P99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in rag:
        lines.append(
            f"| `{c.name}` | {_ms(c.p95_ms)} | {_ms((c.p95_ms or 0) + p95p)} | "
            f"{_ms(c.p99_ms)} | {_ms((c.p99_ms or 0) + p99p)} |"
        )
    return lines


def write_summary(
    out_dir: Path,
    run: RunStats,
    checks: list[Check],
    thresholds: Thresholds,
    info: RunInfo,
) -> Path:
    failed = breaches(checks)
    caps_path = out_dir / "capabilities.json"
    caps = json.loads(caps_path.read_text()) if caps_path.exists() else {}
    lines = [
        f"# Load test {out_dir.name}: {'FAIL' if failed else 'PASS'}",
        "",
        f"- Target: `{info.host}`",
        f"- Profile `{info.profile}`, scenario `{info.scenario}`, peak {info.peak_users} users, "
        f"time scale {info.scale:g}",
        f"- Thresholds: `{thresholds.source}` (profile `{thresholds.profile}`)",
        f"- Command: `{info.command}`",
        f"- Written {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
    ]
    if caps.get("not_deployed"):
        lines.append(
            "- Not exercised (endpoint not deployed on the target): "
            + ", ".join(f"`{c}`" for c in caps["not_deployed"])
        )
    lines += [f"- {n}" for n in info.notes]
    lines += [
        "",
        "## Requests by class",
        "",
        "| class | requests | failures | req/s | P50 ms | P95 ms | P99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[_class_row(c) for c in sorted(run.classes, key=lambda c: c.name)],
        _class_row(run.total).replace(f"`{AGGREGATED}`", "**all**"),
        "",
        "## Thresholds",
        "",
        "| metric | target | measured | result |",
        "|---|---|---|---|",
        *[
            f"| {c.metric} | {c.target} | {c.measured} | {'pass' if c.ok else '**FAIL**'} |"
            for c in checks
        ],
    ]
    if run.failures:
        lines += ["", "## Failures", "", "| class | error | count |", "|---|---|---:|"]
        lines += [f"| `{f.name}` | {f.error[:120]} | {f.occurrences} |" for f in run.failures]
    lines += llm_budget_lines(run, thresholds)
    if (out_dir / "chart.png").exists():
        lines += ["", "## Over time", "", "![latency and users](chart.png)"]
    path = out_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_chart(history: list[HistoryPoint], path: Path, title: str) -> Path | None:
    """P50/P95/P99 of all requests, P95 of each rag class, and users, against elapsed time."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(p.timestamp for p in history)
    total = [p for p in history if p.name == AGGREGATED]
    fig, (ax, ax_users) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    xs = [p.timestamp - t0 for p in total]
    for label, attr in (("P50", "p50_ms"), ("P95", "p95_ms"), ("P99", "p99_ms")):
        ax.plot(xs, [getattr(p, attr) for p in total], label=f"all requests {label}")
    for name in sorted({p.name for p in history if p.name.startswith("rag:")}):
        pts = [p for p in history if p.name == name]
        ax.plot(
            [p.timestamp - t0 for p in pts],
            [p.p95_ms for p in pts],
            linestyle="--",
            label=f"{name} P95",
        )
    ax.set_yscale("log")
    ax.set_ylabel("response time (ms, rolling window, log)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax_users.plot(xs, [p.users for p in total], color="black", label="users")
    ax_rps = ax_users.twinx()
    ax_rps.plot(xs, [p.rps for p in total], color="tab:green", alpha=0.6, label="req/s")
    ax_users.set_ylabel("users")
    ax_rps.set_ylabel("req/s")
    ax_users.set_xlabel("elapsed (s)")
    ax_users.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
