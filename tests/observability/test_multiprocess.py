"""Several worker processes write metric files; one scrape must add them all up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.observability.conftest import REPO_ROOT

WORKER = """
import sys
from service.observability import metrics
metrics.HTTP_REQUESTS.labels(route="/api/x", method="GET", status="200").inc(int(sys.argv[1]))
metrics.DB_POOL_CONNECTIONS.labels(state="in_use").set(int(sys.argv[1]))
"""
SCRAPE = """
import sys
from service.observability.exposition import exposition, mark_process_dead
for pid in sys.argv[1:]:
    mark_process_dead(int(pid))
print(exposition().decode())
"""


def _scrape(
    env: dict[str, str], *dead: int
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = subprocess.run(
        [sys.executable, "-c", SCRAPE, *map(str, dead)],
        env=env,
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    ).stdout.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(out)
        for s in fam.samples
    }


def test_exposition_merges_worker_processes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    pids = []
    for n in (2, 5):
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(n)], env=env, cwd=REPO_ROOT)
        assert proc.wait() == 0
        pids.append(proc.pid)
    values = _scrape(env)
    key = ("http_requests_total", (("method", "GET"), ("route", "/api/x"), ("status", "200")))
    pool = ("db_pool_connections", (("state", "in_use"),))
    assert values[key] == 7
    assert values[pool] == 7
    # Once the process manager reports a worker dead, its pool no longer counts; counters stay.
    values = _scrape(env, pids[1])
    assert values[key] == 7
    assert values[pool] == 2
