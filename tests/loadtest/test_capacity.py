"""The capacity profile: its schedule, how a step is judged, the analysis of a recorded run, its
gate, and a short real run against a fresh local stack."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest import capacity, compare
from loadtest.capacity import (
    IDLE_POLL_SECONDS,
    NEW_QUESTION,
    CapacityPlan,
    Pacer,
    Request,
    Schedule,
)
from loadtest.gate import breaches, evaluate
from loadtest.stats import ClassStats, Failure, RunStats
from loadtest.thresholds import load_thresholds
from tests.conftest import CORPUS_DIR, REPO_ROOT, free_port

PLAN = CapacityPlan(
    users=10, ramp_seconds=5, hold_seconds=10, step_users=4, warmup_seconds=5,
    step_rate=2, step_seconds=10, max_steps=5,
)  # fmt: skip


def _step_requests(start: float, rate: float, ms: float, outcome: str = "ok") -> list[Request]:
    n = int(rate * PLAN.step_seconds)
    return [Request(start + i / rate, NEW_QUESTION, ms, outcome) for i in range(n)]


def test_schedule_holds_then_steps_up_and_stops_after_the_first_step_that_fails() -> None:
    s = Schedule(PLAN)
    assert s.phase(0) == ("hold", 10, 0.0)
    assert s.phase(14.9) == ("hold", 10, 0.0)
    assert s.phase(15) == ("warmup", 4, 0.0)
    start = PLAN.steps_start
    assert s.phase(start) == ("steps", 4, 2.0)
    assert s.phase(start + 10) == ("steps", 4, 4.0)
    requests = (
        _step_requests(start, 2, 50)
        + _step_requests(start + 10, 4, 120)
        + _step_requests(start + 20, 6, 350)  # past the 200 ms target
        + _step_requests(start + 30, 8, 100)
    )
    s.advance(start + 21, requests)  # the second step's grace hasn't passed: one judged
    assert [st.held for st in s.steps] == [True]
    s.advance(start + 60, requests)
    assert [(st.rate, st.held) for st in s.steps] == [(2, True), (4, True), (6, False)]
    assert s.stopped and s.phase(start + 35)[0] == "done"
    best = s.highest_held()
    assert best is not None and best.rate == 4
    assert s.steps[1].p95_ms == 120 and s.steps[1].achieved_rate == pytest.approx(4)


def test_the_first_step_waits_for_its_users_to_sign_in_but_not_forever() -> None:
    s = Schedule(PLAN)
    planned = PLAN.steps_start
    s.wait_for(planned - 1, ready_users=0)  # still warming up as planned: nothing moves
    assert s.steps_start == planned
    s.wait_for(planned + 3, ready_users=2)  # 2 of 4 signed in: the step clock waits
    assert s.phase(planned + 3) == ("warmup", 4, 0.0)
    s.wait_for(planned + 4, ready_users=4)  # everyone in: the first step starts from here
    assert s.phase(planned + 4) == ("steps", 4, 2.0)
    assert s.phase(planned + 14) == ("steps", 4, 4.0)
    s.advance(planned + 30, _step_requests(planned + 3, 2, 50))
    assert s.steps[0].start == planned + 3 and s.steps[0].held
    late = Schedule(PLAN)
    late.wait_for(planned + 500, ready_users=0)  # nobody ever signs in: capped, then it runs
    assert late.steps_start == planned + capacity.MAX_EXTRA_WARMUP_SECONDS
    assert late.to_json()["warmup_extended_seconds"] == capacity.MAX_EXTRA_WARMUP_SECONDS


def test_a_step_that_sheds_or_fails_did_not_hold_however_fast() -> None:
    start = PLAN.steps_start
    shed = _step_requests(start, 2, 10)
    shed[3] = Request(shed[3].at, NEW_QUESTION, 1, "shed")
    step = capacity.measure_step(capacity.Step(0, 2, start, start + 10), shed, 200)
    assert step.shed == 1 and not step.held
    failed = _step_requests(start, 2, 10)
    failed[0] = Request(failed[0].at, NEW_QUESTION, 1, "error")
    step = capacity.measure_step(capacity.Step(0, 2, start, start + 10), failed, 200)
    assert step.errors == 1 and not step.held
    # Requests of the hold phase (other names) never count towards a step.
    other = [Request(start + 1, "rag:query:unseen", 900, "ok")]
    step = capacity.measure_step(capacity.Step(0, 2, start, start + 10), other, 200)
    assert step.requests == 0 and not step.held


def test_analysis_recomputes_the_steps_from_the_recorded_requests(tmp_path: Path) -> None:
    start = PLAN.steps_start
    # Cached answers report their time in the API (a third of what the client saw); new
    # questions come from a run before the API reported it.
    hold = [
        Request(1 + i * 0.1, "rag:query:popular", 5 + i % 10, "ok", (5 + i % 10) / 3)
        for i in range(100)
    ]
    hold += [Request(1 + i * 0.3, "rag:query:unseen", 60 + i, "ok") for i in range(30)]
    # The ramp's slow answers (the first 5 s) count in the hold, not in its steady state.
    hold += [Request(0.5 + i * 0.1, "rag:query:popular", 500, "ok") for i in range(10)]
    steps = _step_requests(start, 2, 40) + _step_requests(start + 10, 4, 900)
    capacity.write_requests(tmp_path / "requests.csv", hold + steps)
    s = Schedule(PLAN)
    s.advance(start + 25, hold + steps)
    (tmp_path / "steps.json").write_text(json.dumps(s.to_json()))
    result = capacity.analyse(tmp_path)
    assert result is not None
    assert result["highest_rate_held"] == 2
    assert [st["held"] for st in result["steps"]] == [True, False]
    assert result["hold"]["rag:query:popular"]["p95_ms"] == 500
    assert result["hold"]["rag:query:unseen"]["requests"] == 30
    steady = result["hold_steady"]["rag:query:popular"]
    assert steady["requests"] == 60 and steady["p95_ms"] == 14
    assert steady["app_p95_ms"] == pytest.approx(14 / 3, abs=0.05)
    assert result["hold_steady"]["rag:query:unseen"]["app_p95_ms"] is None
    report = (tmp_path / "capacity.md").read_text()
    assert "| `rag:query:popular` | 60 | 9 | 14 | 14 | 0 | 0 | 3 / 5 |" in report
    assert "| `rag:query:unseen` | 16 | 81 | 89 | 89 | 0 | 0 | - / - |" in report
    assert "after the ramp" in (tmp_path / "capacity.md").read_text()
    assert "Highest rate that held: 2 new questions/s" in (tmp_path / "capacity.md").read_text()
    assert (tmp_path / "capacity.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("header", "ms"),
    [
        ("app;dur=12.5", 12.5),
        ("cache;desc=hit, app;dur=3", 3.0),
        ("db;dur=1.0, app ; dur=7.25", 7.25),
        ("app", None),  # no duration
        ("app;dur=soon", None),
        ("app;dur=nan", None),
        ("app;dur=-1", None),
        ("total;dur=9", None),  # some other metric
        ("", None),
        (None, None),  # no header: a proxy's error page, a run against an older API
    ],
)
def test_the_apis_own_time_is_read_from_its_server_timing_header(
    header: str | None, ms: float | None
) -> None:
    assert capacity.app_duration_ms(header) == ms


def _stats(name: str, p95: float, n: int = 500) -> ClassStats:
    return ClassStats("POST", name, n, 0, 10.0, p95 / 2, p95, p95 * 1.5, p95 * 2)


def test_capacity_gate_cached_within_20_ms_new_within_200_and_nothing_of_the_hold_shed() -> None:
    t = load_thresholds(profile="capacity")
    popular, unseen = t.target_for("rag:query:popular"), t.target_for("rag:query:unseen")
    assert popular is not None and popular.p95_ms == 20
    assert unseen is not None and unseen.p95_ms == 200
    steps = [_stats(NEW_QUESTION, 900)]  # past the target on purpose: reported, not a breach
    total = ClassStats("", "Aggregated", 3000, 0, 60.0, 10, 100, 200, 900)
    good = RunStats([_stats("rag:query:popular", 15), _stats("rag:query:unseen", 180), *steps],
                    total, [Failure("POST", NEW_QUESTION, "shed:503", 40)])  # fmt: skip
    assert breaches(evaluate(good, t)) == []
    slow_cache = RunStats([_stats("rag:query:popular", 25), *steps], total, [])
    assert [c.metric for c in breaches(evaluate(slow_cache, t))] == ["rag:query:popular p95"]
    shed_hold = RunStats(
        [_stats("rag:query:unseen", 150)],
        total,
        [Failure("POST", "rag:query:unseen", "shed:503", 1)],
    )
    assert [c.metric for c in breaches(evaluate(shed_hold, t))] == ["rag:query:* shed"]
    # Other profiles keep the shared targets and never see a capacity class.
    spec = load_thresholds(profile="spec")
    popular_spec = spec.target_for("rag:query:popular")
    assert popular_spec is not None and popular_spec.p95_ms == 200
    assert spec.target_for(NEW_QUESTION) is None


@pytest.mark.slow
def test_short_capacity_run_against_a_fresh_stack(tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOST")}
    env |= {
        "LOCAL_DIR": str(tmp_path / "local"),
        "API_PORT": str(free_port()),
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "ENVIRONMENT": "local",
        "CORPUS_DIR": str(CORPUS_DIR),
        "EDGE_ENABLED": "false",  # Locust talks to the API; the edge's port may be taken here
    }
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.run", "--profile", "capacity", "--scale", "0.02",
         "--peak-users", "10", "--results-dir", str(results), "--corpus-chunks", "300"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode in (0, 1), log  # a breach is a result; a broken run is not
    (out,) = results.iterdir()
    found = json.loads((out / "capacity.json").read_text())
    assert found["steps"], log
    assert found["hold"]["rag:query:popular"]["requests"] > 0
    assert all(s["requests"] > 0 for s in found["steps"])
    # The hold's users are gone before the first step: its figures are the step users' alone.
    recorded = capacity.read_requests(out / "requests.csv")
    assert not [
        r for r in recorded if r.name.startswith("rag:") and r.at > found["steps"][0]["start"]
    ]
    assert found["steps"][0]["achieved_rate"] > 0
    # Every answer carried the API's own time, never more than the client's.
    answered = [r for r in recorded if r.outcome == "ok"]
    assert answered and all(r.app_ms is not None for r in answered)
    assert all(r.app_ms is not None and r.app_ms <= r.ms + 0.1 for r in answered)
    summary = (out / "summary.md").read_text()
    assert "## Capacity" in summary and "Highest rate that held" in summary
    assert "==> capacity: highest rate that held" in log


def test_step_users_spread_their_first_questions_over_an_interval() -> None:
    """When a step starts, users idling before it do not all ask at its first instant: each asks
    only after a paced wait, and the first waits spread over one interval (users / rate)."""
    rng = random.Random(3)
    pacers = [Pacer(rng) for _ in range(40)]
    for p in pacers:  # idling before the first step
        assert p.wait(0.0, 40, now=100.0) == IDLE_POLL_SECONDS
        assert not p.due()
    firsts = [p.wait(4.0, 40, now=230.0) for p in pacers]  # the step starts: 4/s over 40 users
    assert all(p.due() for p in pacers)
    assert all(0 <= w <= 10 for w in firsts)
    assert sum(w < 1 for w in firsts) <= 10  # about 4 of 40 in the first second, not 40
    assert max(firsts) - min(firsts) > 5
    # Then each asks every interval: together, the step's rate.
    p = pacers[0]
    at = 230.0 + firsts[0]
    assert p.wait(4.0, 40, now=at) == pytest.approx(10.0)


def test_compare_charts_runs_side_by_side_and_refuses_a_run_without_a_label(
    tmp_path: Path,
) -> None:
    runs = []
    # "b" recorded the API's own time too; "a" comes from before it was recorded.
    for name, p95, app_p95 in (("a", 120.0, None), ("b", 40.0, 30.0)):
        run = tmp_path / name
        run.mkdir()
        steady = {"rag:query:popular": {"p50_ms": p95 / 4, "p95_ms": p95, "app_p95_ms": app_p95}}
        (run / "capacity.json").write_text(json.dumps({"hold_steady": steady}))
        runs.append(f"{name}={run}")
    out = tmp_path / "chart.png"
    compare.main(["--out", str(out), *runs])
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit) as exited:
        compare.main(["--out", str(out), str(tmp_path / "a")])
    assert exited.value.code == 2
