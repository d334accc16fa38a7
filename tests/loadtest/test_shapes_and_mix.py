"""Load shapes, the query mix and account hand-out: what makes a run a fair test."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from loadtest.accounts import AccountPool, AccountsExhausted, SeededAccount
from loadtest.queries import QueryMix, build_query_sets
from loadtest.shapes import SPEC_SECONDS, peak_of, stages_for, target_at
from tests.conftest import CORPUS_DIR


def test_full_spec_shape_is_14_minutes_50_then_100_users() -> None:
    stages = stages_for("spec", 1.0)
    assert SPEC_SECONDS == 14 * 60 == sum(s.seconds for s in stages)
    assert [s.users for s in stages] == [50, 50, 100, 100, 0]
    assert target_at(stages, 30)[0] == 25  # type: ignore[index]  # half-way up the first ramp
    assert target_at(stages, 200)[0] == 50  # type: ignore[index]
    assert target_at(stages, 600)[0] == 100  # type: ignore[index]
    assert target_at(stages, 839) is not None and target_at(stages, 840) is None


def test_scale_shrinks_time_not_users_and_stress_doubles_users() -> None:
    short = stages_for("spec", 30 / SPEC_SECONDS, peak_users=4)
    assert sum(s.seconds for s in short) == pytest.approx(30)
    assert peak_of(short) == 4
    assert peak_of(stages_for("stress", 1.0)) == 200
    with pytest.raises(ValueError):
        stages_for("soak", 1.0)
    with pytest.raises(ValueError):
        stages_for("spec", 0)


def test_query_mix_is_70_30_with_a_large_never_repeating_pool() -> None:
    sets = build_query_sets(CORPUS_DIR)
    assert len(sets.popular) == 30
    assert len(set(sets.pool)) == len(sets.pool) >= 1000
    assert not set(sets.popular) & set(sets.pool)
    mix = QueryMix(sets)
    drawn = [mix.next() for _ in range(5000)]
    kinds = Counter(kind for kind, _ in drawn)
    assert 0.67 < kinds["popular"] / 5000 < 0.73
    unseen = [q for kind, q in drawn if kind == "unseen"]
    assert len(unseen) == len(set(unseen))  # unseen really means unseen
    assert len({q for kind, q in drawn if kind == "popular"}) > 20  # not a four-query loop


def test_each_virtual_user_gets_its_own_account() -> None:
    pool = AccountPool(
        [SeededAccount(f"s{i}@example.com", "student") for i in range(3)]
        + [SeededAccount("t0@example.com", "teacher")]
    )
    taken = {pool.take("student").email for _ in range(3)}
    assert len(taken) == 3
    assert pool.take("teacher").email == "t0@example.com"
    with pytest.raises(AccountsExhausted, match="student"):
        pool.take("student")


def test_summary_and_chart_from_a_recorded_run(tmp_path: Path) -> None:
    from loadtest import gate, report
    from loadtest.stats import read_history, read_run
    from loadtest.thresholds import load_thresholds

    fixtures = Path(__file__).parent / "fixtures"
    run = read_run(fixtures / "school_day")
    thresholds = load_thresholds()
    checks = gate.evaluate(run, thresholds)
    chart = report.write_chart(read_history(fixtures / "smoke"), tmp_path / "chart.png", "t")
    assert chart is not None and chart.read_bytes()[:4] == b"\x89PNG"
    info = report.RunInfo("http://h", "spec", "school-day", 1.0, 100, "python -m loadtest.run")
    text = report.write_summary(tmp_path, run, checks, thresholds, info).read_text()
    assert text.startswith("# Load test") and ": PASS" in text.splitlines()[0]
    assert "| `rag:query:unseen` | 2990 |" in text
    assert "LLM-inclusive budget" in text and "![latency and users](chart.png)" in text
