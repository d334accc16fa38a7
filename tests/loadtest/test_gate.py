"""The gate's verdicts on recorded Locust stats (fixtures/), without running a load test."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from loadtest import gate
from loadtest.stats import read_run
from loadtest.thresholds import DEFAULT_THRESHOLDS, ThresholdsError, load_thresholds

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(
    tmp_path: Path,
    name: str = "school_day",
    set_cells: dict[tuple[str, str], str] | None = None,
    failures: list[tuple[str, str, int]] | None = None,
) -> Path:
    """A copy of a recorded run, optionally with some cells changed; returns the --csv prefix."""
    prefix = tmp_path / name
    for suffix in ("_stats.csv", "_failures.csv"):
        shutil.copy(FIXTURES / f"{name}{suffix}", f"{prefix}{suffix}")
    if set_cells:
        path = Path(f"{prefix}_stats.csv")
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
            fields = list(rows[0])
        for (row_name, column), value in set_cells.items():
            matched = [r for r in rows if r["Name"] == row_name]
            assert matched, row_name
            matched[0][column] = value
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fields)
            writer.writeheader()
            writer.writerows(rows)
    if failures is not None:
        with Path(f"{prefix}_failures.csv").open("w", newline="") as fh:
            writer2 = csv.writer(fh)
            writer2.writerow(["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"])
            for cls, error, count in failures:
                writer2.writerow(["POST", cls, error, count, 0, 0])
    return prefix


def failed_metrics(prefix: Path, profile: str = "spec") -> list[str]:
    checks = gate.evaluate(read_run(prefix), load_thresholds(DEFAULT_THRESHOLDS, profile))
    return [c.metric for c in gate.breaches(checks)]


def test_recorded_run_within_targets_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = recorded(tmp_path)
    assert failed_metrics(prefix) == []
    assert gate.main([str(prefix)]) == 0
    out = capsys.readouterr().out
    assert "rag:query:unseen p95" in out and "gate: PASS" in out


def test_slow_rag_p95_is_a_breach_naming_metric_target_and_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = recorded(tmp_path, set_cells={("rag:query:unseen", "95%"): "240"})
    assert failed_metrics(prefix) == ["rag:query:unseen p95"]
    assert gate.main([str(prefix)]) == 1
    out = capsys.readouterr().out
    assert "BREACH rag:query:unseen p95: target <= 200 ms, measured 240 ms" in out


def test_api_p99_and_missing_percentiles_are_breaches(tmp_path: Path) -> None:
    prefix = recorded(
        tmp_path,
        set_cells={("api:projects:list", "99%"): "201", ("api:me", "95%"): "N/A"},
    )
    assert sorted(failed_metrics(prefix)) == ["api:me p95", "api:projects:list p99"]


def test_error_ratio_over_one_percent_fails(tmp_path: Path) -> None:
    prefix = recorded(tmp_path, set_cells={("Aggregated", "Failure Count"): "212"})
    assert failed_metrics(prefix) == ["error_ratio"]


def test_shed_requests_count_as_errors_in_spec_but_not_in_stress(tmp_path: Path) -> None:
    # 300 of 21,170 requests shed with 429: 1.4 % errors at spec load, graceful at 2x load.
    prefix = recorded(
        tmp_path,
        set_cells={("Aggregated", "Failure Count"): "300"},
        failures=[("rag:query:unseen", "CatchResponseError('shed:429')", 300)],
    )
    assert failed_metrics(prefix, "spec") == ["error_ratio"]
    assert failed_metrics(prefix, "stress") == []


def test_stress_forbids_silent_timeouts_and_unshed_errors(tmp_path: Path) -> None:
    # The fixture has one timeout: fine at spec load (0.02 % errors), a breach under stress.
    assert failed_metrics(recorded(tmp_path), "spec") == []
    assert failed_metrics(recorded(tmp_path), "stress") == ["timeouts"]


def test_stress_reports_latency_without_gating_it(tmp_path: Path) -> None:
    prefix = recorded(
        tmp_path,
        set_cells={("rag:query:unseen", "95%"): "900"},
        failures=[("api:me", "CatchResponseError('shed:503')", 5)],
    )
    checks = gate.evaluate(read_run(prefix), load_thresholds(DEFAULT_THRESHOLDS, "stress"))
    rag = next(c for c in checks if c.metric == "rag:query:unseen p95")
    assert rag.ok and "not gated" in rag.target and rag.measured == "900 ms"


def test_low_throughput_and_empty_runs_fail(tmp_path: Path) -> None:
    prefix = recorded(tmp_path, set_cells={("Aggregated", "Requests/s"): "3.2"})
    assert failed_metrics(prefix) == ["throughput"]
    (tmp_path / "empty").mkdir()
    empty = recorded(
        tmp_path / "empty",
        set_cells={("Aggregated", "Request Count"): "0", ("Aggregated", "Requests/s"): "0"},
    )
    assert {"requests", "error_ratio", "throughput"} <= set(failed_metrics(empty))


def test_a_request_class_without_a_target_is_a_breach(tmp_path: Path) -> None:
    prefix = recorded(tmp_path, set_cells={("storage:put", "Name"): "uploads:put"})
    assert failed_metrics(prefix) == ["uploads:put class"]


def test_exact_class_beats_patterns_and_longest_pattern_wins(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text(
        "[gate]\nerror_ratio_max = 0.01\nmin_rps = 0\nmin_requests = 0\n"
        '[classes."api:*"]\np95_ms = 50\np99_ms = 100\n'
        '[classes."api:projects:*"]\np95_ms = 60\np99_ms = 110\n'
        '[classes."api:projects:list"]\np95_ms = 70\np99_ms = 120\n'
    )
    t = load_thresholds(toml)
    assert t.target_for("api:projects:list").p95_ms == 70  # type: ignore[union-attr]
    assert t.target_for("api:projects:get").p95_ms == 60  # type: ignore[union-attr]
    assert t.target_for("api:me").p95_ms == 50  # type: ignore[union-attr]
    assert t.target_for("rag:query") is None


def test_impossible_thresholds_fail_the_recorded_run(tmp_path: Path) -> None:
    impossible = FIXTURES / "impossible_thresholds.toml"
    prefix = recorded(tmp_path)
    assert gate.main([str(prefix), "--thresholds", str(impossible)]) == 1


def test_malformed_thresholds_and_missing_stats_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[gate]\nerror_ratio_max = "low"\nmin_rps = 1\nmin_requests = 1\n')
    with pytest.raises(ThresholdsError):
        load_thresholds(bad)
    prefix = recorded(tmp_path)
    assert gate.main([str(prefix), "--thresholds", str(bad)]) == 2
    assert gate.main([str(tmp_path / "nothing")]) == 2
    assert gate.main([str(prefix), "--profile", "nightly"]) == 2


def test_real_smoke_recording_is_read(tmp_path: Path) -> None:
    """A run recorded from Locust 2.47 against the foundation (3 classes, no failures)."""
    run = read_run(recorded(tmp_path, "smoke"))
    assert {c.name for c in run.classes} == {"api:me", "api:relationships:list", "auth:login"}
    assert run.total.requests == 9 and run.failures == []


def test_percentiles_of_a_handful_of_requests_are_reported_not_gated(tmp_path: Path) -> None:
    prefix = recorded(
        tmp_path,
        set_cells={
            ("storage:put", "Request Count"): "50",  # enough for P95 (20), not for P99 (100)
            ("storage:put", "95%"): "900",
            ("storage:put", "99%"): "5000",
        },
    )
    checks = gate.evaluate(read_run(prefix), load_thresholds())
    p99 = next(c for c in checks if c.metric == "storage:put p99")
    assert p99.ok and "< 100 samples" in p99.target and p99.measured == "5000 ms"
    assert [c.metric for c in gate.breaches(checks)] == ["storage:put p95"]
