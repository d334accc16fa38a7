"""The performance gate: Locust's CSVs against thresholds.toml; exit 1 on any breach.

`python -m loadtest.gate results/<ts>/locust [--thresholds FILE] [--profile spec|smoke|stress]`
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtest.stats import RunStats, read_run
from loadtest.thresholds import DEFAULT_THRESHOLDS, Thresholds, ThresholdsError, load_thresholds


@dataclass(frozen=True)
class Check:
    metric: str
    target: str
    measured: str
    ok: bool

    def breach_line(self) -> str:
        return f"BREACH {self.metric}: target {self.target}, measured {self.measured}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def evaluate(run: RunStats, thresholds: Thresholds) -> list[Check]:
    """Every check, passing or not, in a stable order (totals first, then per class)."""
    total = run.total
    checks = [
        Check(
            "requests",
            f">= {thresholds.min_requests}",
            str(total.requests),
            total.requests >= thresholds.min_requests,
        )
    ]
    errors = total.failures - (run.shed if thresholds.shed_is_graceful else 0)
    ratio = errors / total.requests if total.requests else 1.0
    label = "error_ratio (429/503 shed excluded)" if thresholds.shed_is_graceful else "error_ratio"
    checks.append(
        Check(
            label,
            f"<= {thresholds.error_ratio_max:.2%}",
            f"{ratio:.2%} ({errors}/{total.requests})",
            total.requests > 0 and ratio <= thresholds.error_ratio_max,
        )
    )
    if thresholds.never_shed is not None:
        pattern = thresholds.never_shed
        shed = sum(
            f.occurrences
            for f in run.failures
            if f.is_shed and fnmatch.fnmatchcase(f.name, pattern)
        )
        checks.append(Check(f"{pattern} shed", "0", str(shed), shed == 0))
    if thresholds.max_timeouts is not None:
        checks.append(
            Check(
                "timeouts",
                f"<= {thresholds.max_timeouts}",
                str(run.timeouts),
                run.timeouts <= thresholds.max_timeouts,
            )
        )
    checks.append(
        Check(
            "throughput",
            f">= {thresholds.min_rps:.1f} req/s",
            f"{total.rps:.1f} req/s",
            total.rps >= thresholds.min_rps,
        )
    )

    for cls in sorted(run.classes, key=lambda c: c.name):
        if cls.requests == 0:
            continue
        target = thresholds.target_for(cls.name)
        if target is None:
            checks.append(
                Check(f"{cls.name} class", "a [classes] row", "no matching pattern", False)
            )
            continue
        for pct, limit, measured, min_samples in (
            ("p95", target.p95_ms, cls.p95_ms, thresholds.min_samples_p95),
            ("p99", target.p99_ms, cls.p99_ms, thresholds.min_samples_p99),
        ):
            gated = (
                thresholds.gate_latency and not target.report_only and cls.requests >= min_samples
            )
            note = ""
            if target.report_only:
                note = " (report only)"
            elif not thresholds.gate_latency:
                note = " (not gated)"
            elif not gated:
                note = f" (not gated: < {min_samples} samples)"
            ok = measured is not None and measured <= limit
            checks.append(
                Check(
                    f"{cls.name} {pct}", f"<= {limit:.0f} ms{note}", _ms(measured), ok or not gated
                )
            )
    return checks


def breaches(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.ok]


def render_table(checks: list[Check]) -> str:
    width = max(len(c.metric) for c in checks)
    tw = max(len(c.target) for c in checks)
    mw = max(len(c.measured) for c in checks)
    lines = [f"{'metric':<{width}}  {'target':<{tw}}  {'measured':<{mw}}  result"]
    for c in checks:
        verdict = "pass" if c.ok else "FAIL"
        lines.append(f"{c.metric:<{width}}  {c.target:<{tw}}  {c.measured:<{mw}}  {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.gate", description=__doc__)
    parser.add_argument("prefix", type=Path, help="the --csv prefix Locust wrote")
    parser.add_argument("--thresholds", type=Path, default=DEFAULT_THRESHOLDS)
    parser.add_argument("--profile", default="spec")
    args = parser.parse_args(argv)
    try:
        thresholds = load_thresholds(args.thresholds, args.profile)
        run = read_run(args.prefix)
    except (OSError, ValueError, ThresholdsError) as exc:
        print(f"gate: cannot evaluate: {exc}", file=sys.stderr)
        return 2
    checks = evaluate(run, thresholds)
    print(render_table(checks))
    failed = breaches(checks)
    for check in failed:
        print(check.breach_line())
    print(
        f"gate: {'FAIL' if failed else 'PASS'} ({len(failed)} breach(es), profile {args.profile})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
