"""`make loadtest-smoke` for real: a fresh local stack, seeded users and corpus, 30 s of Locust at
4 users, gated by loadtest/thresholds.toml. It must pass, and the same recorded run must fail
against a deliberately impossible thresholds file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS_DIR, REPO_ROOT, free_port

pytestmark = pytest.mark.slow
IMPOSSIBLE = Path(__file__).parent / "fixtures" / "impossible_thresholds.toml"


def _loadtest(
    args: list[str], tmp_path: Path, port: int, s3_port: int
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HOST")}
    env |= {
        "LOCAL_DIR": str(tmp_path / "local"),
        "API_PORT": str(port),
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "ENVIRONMENT": "local",
        "CORPUS_DIR": str(CORPUS_DIR),
    }
    return subprocess.run(
        [sys.executable, "-m", "loadtest.run", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_smoke_run_passes_the_gate_and_fails_impossible_thresholds(tmp_path: Path) -> None:
    results = tmp_path / "results"
    port, s3_port = free_port(), free_port()
    done = _loadtest(
        ["--profile", "smoke", "--results-dir", str(results), "--corpus-chunks", "300"],
        tmp_path,
        port,
        s3_port,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    (out,) = results.iterdir()
    summary = (out / "summary.md").read_text()
    assert summary.startswith(f"# Load test {out.name}: PASS"), summary
    assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"
    stats = (out / "locust_stats.csv").read_text()
    assert "auth:login" in stats and "Aggregated" in stats
    accounts = json.loads((out / "users.json").read_text())
    assert len({a["email"] for a in accounts}) == len(accounts) >= 8  # distinct seeded users

    # Same run, impossible targets: non-zero exit and every breach named with its numbers.
    regated = _loadtest(
        ["--regate", str(out), "--thresholds", str(IMPOSSIBLE)], tmp_path, port, s3_port
    )
    assert regated.returncode == 1, regated.stdout + regated.stderr
    assert "BREACH throughput: target >= 100000.0 req/s, measured" in regated.stdout
    assert "BREACH auth:login p95: target <= 0 ms, measured" in regated.stdout
    assert (out / "summary.md").read_text().startswith(f"# Load test {out.name}: FAIL")
