"""`make loadtest`: stack (local by default) -> setup -> Locust (spec shape) -> gate -> summary + chart.

python -m loadtest.run [--host URL] [--profile spec|smoke|stress|capacity] [--scenario school-day]
    [--scale F]
Exit code: the gate's (0 only when every threshold holds; 1 on a breach; 2 if the run broke).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from loadtest import capacity, gate, report
from loadtest.shapes import SPEC_SECONDS, peak_of, stages_for
from loadtest.stats import read_history, read_run
from loadtest.thresholds import DEFAULT_THRESHOLDS, load_thresholds

REPO_ROOT = Path(__file__).resolve().parents[1]
SCENARIOS: dict[str, list[str]] = {
    "school-day": ["StudentUser", "TeacherUser"],
    "rag-query": ["RagQueryUser"],
    "projects": ["ProjectsUser"],
    "annotations": ["AnnotationsUser"],
    "capacity": ["CapacityUser", "NewQuestionUser"],
}
# Roles the scenario's users log in as (each needs its own seeded account).
ROLES = {"StudentUser": "student", "RagQueryUser": "student", "AnnotationsUser": "student",
         "TeacherUser": "teacher", "ProjectsUser": "teacher", "CapacityUser": "student",
         "NewQuestionUser": "student"}  # fmt: skip
SMOKE_SECONDS = 30.0
SMOKE_PEAK = 4


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m loadtest.run", description=__doc__)
    # HOST only counts when it is a URL (some shells export HOST=<hostname>).
    env_host = os.environ.get("HOST", "")
    env_host = env_host if env_host.startswith(("http://", "https://")) else ""
    p.add_argument("--host", default=env_host, help="default: the local stack")
    p.add_argument("--profile", default=os.environ.get("LOAD_PROFILE", "spec"),
                   choices=["spec", "smoke", "stress", "capacity"])  # fmt: skip
    p.add_argument("--scenario", default=os.environ.get("SCENARIO"), choices=sorted(SCENARIOS),
                   help="default school-day (capacity profile: capacity)")  # fmt: skip
    p.add_argument("--scale", type=float, default=None,
                   help="time factor of the shape (1.0 = 14 min; smoke default = 30 s)")  # fmt: skip
    p.add_argument("--peak-users", type=int, default=None, help="default 100 (smoke: 4)")
    p.add_argument("--thresholds", type=Path, default=Path(os.environ.get(
        "THRESHOLDS", DEFAULT_THRESHOLDS)))  # fmt: skip
    p.add_argument("--results-dir", type=Path, default=REPO_ROOT / "loadtest" / "results")
    p.add_argument("--corpus-chunks", type=int, default=None,
                   help="chunks to seed (local default 10000; remote 0 = leave the corpus alone)")  # fmt: skip
    p.add_argument("--skip-setup", action="store_true")
    p.add_argument("--regate", type=Path, default=None, metavar="RESULTS_DIR",
                   help="re-evaluate a finished run (e.g. with other --thresholds); no load")  # fmt: skip
    return p.parse_args(argv)


def finish(out: Path, thresholds_path: Path, info: report.RunInfo) -> int:
    """Gate + chart + summary for the run in `out`; the process exit code."""
    prefix = out / "locust"
    thresholds = load_thresholds(thresholds_path, info.profile)
    run = read_run(prefix)
    checks = gate.evaluate(run, thresholds)
    report.write_chart(
        read_history(prefix), out / "chart.png", f"{info.scenario} / {info.profile} / {info.host}"
    )
    summary = report.write_summary(out, run, checks, thresholds, info)
    found = capacity.analyse(out)
    if found is not None:
        with summary.open("a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(capacity.markdown(found)) + "\n")
        print(
            f"==> capacity: highest rate that held {found['highest_rate_held']:g} new questions/s"
        )
    print(gate.render_table(checks))
    failed = gate.breaches(checks)
    for check in failed:
        print(check.breach_line())
    print(f"==> {'FAIL' if failed else 'PASS'}: summary {summary}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.regate is not None:
        info = report.RunInfo(**json.loads((args.regate / "run.json").read_text()))
        info.command += f" (re-gated with {args.thresholds})"
        return finish(args.regate, args.thresholds, info)
    smoke = args.profile == "smoke"
    scale = (
        args.scale if args.scale is not None else (SMOKE_SECONDS / SPEC_SECONDS if smoke else 1.0)
    )
    peak = args.peak_users or (SMOKE_PEAK if smoke else 100)
    if args.profile == "capacity":
        args.scenario = args.scenario or "capacity"
        users = capacity.CapacityPlan.scaled(scale, peak).accounts_needed()
    else:
        args.scenario = args.scenario or "school-day"
        users = peak_of(stages_for(args.profile, scale, peak))
    local = not args.host
    port = int(os.environ.get("API_PORT", "8080"))
    host = args.host.rstrip("/") or f"http://127.0.0.1:{port}"
    corpus_chunks = (
        args.corpus_chunks if args.corpus_chunks is not None else (10_000 if local else 0)
    )

    out = args.results_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    users_file = out / "users.json"
    command = "python -m loadtest.run " + shlex.join(argv if argv is not None else sys.argv[1:])
    info = report.RunInfo(host, args.profile, args.scenario, scale, users, command)
    (out / "run.json").write_text(json.dumps(dataclasses.asdict(info)))
    print(f"==> {args.profile} run of '{args.scenario}' against {host}: {users} users -> {out}",
          flush=True)  # fmt: skip

    with ExitStack() as stack:
        if local:
            from loadtest.stack import local_stack

            port = urlparse(host).port or port
            stack.enter_context(local_stack(host, port, out / "devstack.log"))
        if not args.skip_setup:
            roles = {ROLES[c] for c in SCENARIOS[args.scenario]}
            setup = [
                sys.executable, "-m", "loadtest.setup", "--host", host,
                "--students", str(users if "student" in roles else 1),
                "--teachers", str(users if "teacher" in roles else 1),
                "--users-file", str(users_file), "--corpus-chunks", str(corpus_chunks),
            ]  # fmt: skip
            if subprocess.run(setup, cwd=REPO_ROOT, check=False).returncode != 0:  # noqa: S603
                print("loadtest: setup failed", file=sys.stderr)
                return 2
        prefix = out / "locust"
        env = {
            **os.environ,
            "LOAD_SHAPE": args.profile,
            "LOAD_SCALE": f"{scale}",
            "LOAD_PEAK_USERS": str(peak),
            "LOAD_THINK_SCALE": os.environ.get("LOAD_THINK_SCALE", "0.25" if smoke else "1.0"),
            "LOADTEST_USERS_FILE": str(users_file),
            "LOADTEST_OUT": str(out),
            "LOADTEST_PDF": str(users_file.parent / "page.pdf"),
        }
        locust = [
            sys.executable, "-m", "locust", "-f", str(REPO_ROOT / "loadtest" / "locustfile.py"),
            "--headless", "--host", host, "--csv", str(prefix), "--csv-full-history",
            "--html", str(out / "report.html"), "--only-summary", "--loglevel", "WARNING",
            "--exit-code-on-error", "0", "--stop-timeout", "10",
            *SCENARIOS[args.scenario],
        ]  # fmt: skip
        print("==> " + shlex.join(locust[1:]), flush=True)
        if subprocess.run(locust, cwd=REPO_ROOT, env=env, check=False).returncode != 0:  # noqa: S603
            print("loadtest: locust did not complete", file=sys.stderr)
            return 2

    return finish(out, args.thresholds, info)


if __name__ == "__main__":
    sys.exit(main())
