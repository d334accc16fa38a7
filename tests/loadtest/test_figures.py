"""Benchmarks' figures keep the command that made them, and their tables grow a row per run."""

from __future__ import annotations

import json
from pathlib import Path

from devtools.figures import append_run, record, write_latest


def test_a_run_appends_one_row_and_keeps_its_own_json(tmp_path: Path) -> None:
    header = "| timestamp | x |\n|---|---|\n"
    first = record("demo", "make bench-demo", "loadtest.bench_demo", ["--n", "3"], x=1)
    second = {**first, "timestamp": first["timestamp"] + "b", "x": 2}
    out = append_run(tmp_path, "bench-demo", first, header, "| a | 1 |\n")
    append_run(tmp_path, "bench-demo", second, header, "| b | 2 |\n")

    saved = json.loads(out.read_text())
    assert saved["command"] == "make bench-demo"
    assert saved["argv"].endswith("-m loadtest.bench_demo --n 3")
    assert {"cpus", "python", "load_average_1m_at_end"} <= saved["machine"].keys()
    assert saved["x"] == 1
    assert (tmp_path / "bench-demo.md").read_text() == header + "| a | 1 |\n| b | 2 |\n"
    assert len(list(tmp_path.glob("bench-demo-*.json"))) == 2


def test_a_one_off_comparison_overwrites_its_latest_files(tmp_path: Path) -> None:
    write_latest(tmp_path, "cmp", {"command": "one"}, "# one\n")
    write_latest(tmp_path, "cmp", {"command": "two"}, "# two\n")
    assert json.loads((tmp_path / "cmp.json").read_text()) == {"command": "two"}
    assert (tmp_path / "cmp.md").read_text() == "# two\n"
