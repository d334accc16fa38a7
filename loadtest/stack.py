"""The local stack for `make loadtest`: reuse one that answers, or start (and later stop) one."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.devstack.processes import Child, Supervisor, http_ok, python

REPO_ROOT = Path(__file__).resolve().parents[1]
LOADTEST_LIMITS = {
    "RATE_LIMIT_API": "20000/hour",
    "RATE_LIMIT_RAG": "600/minute",
    "RATE_LIMIT_UPLOADS": "1000/hour",
    "RATE_LIMIT_LOGIN_IP": "100000/minute",
    "RATE_LIMIT_LOGIN_ACCOUNT": "1000/minute",
}


@contextmanager
def local_stack(host: str, port: int, log_path: Path, timeout: float = 300) -> Iterator[bool]:
    """Yields True when this call started the stack (and then stops it on exit)."""
    health = f"{host}/api/health"
    if http_ok(health)():
        print(f"==> using the stack already answering at {host}", flush=True)
        yield False
        return
    print(f"==> starting the local stack on :{port} (log: {log_path})", flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "API_PORT": str(port), "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
    # The load test seeds its own corpus; demo-book ingestion would compete for the CPU.
    env.setdefault("SEED_DEMO_DATA", "false")
    # One API process per core, as production runs one per vCPU (piano:apiWorkers).
    env.setdefault("API_WORKERS", str(os.cpu_count() or 1))
    # Limits stay on (every request pays for them, as in production), set explicitly above what
    # the shapes send: every virtual user comes from this one address, 200 of them sign in
    # within seconds, and a virtual user thinks only 1-8 s between actions (smoke runs less).
    for name, value in LOADTEST_LIMITS.items():
        env.setdefault(name, value)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [python(), "-m", "devtools.devstack", "up"],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sup = Supervisor(children=[Child("devstack", proc)])
    try:
        sup.wait_ready(sup.children[0], http_ok(health), timeout, health)
        yield True
    finally:
        print("==> stopping the local stack", flush=True)
        sup.stop_all(grace=30)
