"""How a benchmark keeps its figures: a JSON record that names the command which produced it and
the machine it ran on, beside a Markdown table people read.

Other work on a shared machine slows every benchmark, so each record carries the load average at
its end. Runs that track a trend append a row to their table and keep one JSON file per run;
one-off comparisons overwrite `<name>.json` and `<name>.md` with the latest run.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devtools import REPO_ROOT


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """n, P50, P95 and mean, in milliseconds, of samples timed in seconds."""
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 4),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 4),
        "mean_ms": round(statistics.fmean(ms), 4),
    }


def record(
    benchmark: str, command: str, module: str, argv: list[str], **figures: Any
) -> dict[str, Any]:
    """The run's record: `command` is what a person types (`make bench-x`), `argv` what ran."""
    return {
        "benchmark": benchmark,
        "timestamp": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "command": command,
        "argv": shlex.join([sys.executable, "-m", module, *argv]),
        "machine": machine(),
        **figures,
    }


def append_run(results: Path, name: str, run: dict[str, Any], header: str, row: str) -> Path:
    """Writes `<name>-<timestamp>.json` and appends `row` to `<name>.md` (started with `header`)."""
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"{name}-{run['timestamp']}.json"
    out.write_text(json.dumps(run, indent=2) + "\n")
    table = results / f"{name}.md"
    if not table.exists():
        table.write_text(header)
    with table.open("a") as f:
        f.write(row)
    print(f"==> wrote {_shown(out)}")
    return out


def write_latest(results: Path, name: str, run: dict[str, Any], markdown: str) -> None:
    """Overwrites `<name>.json` and `<name>.md` with this run."""
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(run, indent=2) + "\n")
    (results / f"{name}.md").write_text(markdown)
    print(f"==> wrote {_shown(results / f'{name}.md')}")


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
