"""The S3-compatible server for `make up` and tests: moto's server on loopback (dev dependency).

moto keeps objects in memory. For `make up`, its request recorder (a moto feature) appends every
mutating request to `.local/s3/recording.jsonl`, and the recording is replayed on the next start,
so uploaded files survive a restart. moto does not verify SigV4 signatures: see README "Projects".
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def loopback_address(endpoint_url: str) -> tuple[str, int] | None:
    """(host, port) when the endpoint is on this machine, i.e. ours to start; else None."""
    parts = urlsplit(endpoint_url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    return parts.hostname or "127.0.0.1", parts.port or 80


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]


def recording_env(data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "MOTO_ENABLE_RECORDING": "true",
        "MOTO_RECORDER_FILEPATH": str(data_dir / "recording.jsonl"),
    }


def is_up(endpoint_url: str) -> bool:
    try:
        return httpx.get(f"{endpoint_url}/moto-api/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def replay(endpoint_url: str, data_dir: Path) -> int:
    """Replays the recording into a fresh server; returns the number of recorded requests."""
    recording = data_dir / "recording.jsonl"
    if not recording.exists() or recording.stat().st_size == 0:
        return 0
    with recording.open("rb") as f:
        count = sum(1 for _ in f)
    r = httpx.post(f"{endpoint_url}/moto-api/recorder/replay-recording", timeout=600)
    r.raise_for_status()
    return count
