"""The S3-compatible server for `make up` and tests: moto's server on loopback (dev dependency),
behind `devtools.sigv4_check`, which verifies every request's SigV4 signature as S3 and R2 do
(moto alone accepts any), so a presigned PUT with another Content-Type or Content-Length, or
after expiry, is refused here too.

moto keeps objects in memory. For `make up`, its request recorder (a moto feature) appends every
mutating request to `.local/s3/recording.jsonl`, and the recording is replayed on the next start,
so uploaded files survive a restart.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

if __package__ in (None, ""):  # run by path (`python devtools/local_s3.py`): the repo on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.sigv4_check import SigV4Check

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
log = logging.getLogger(__name__)


def loopback_address(endpoint_url: str) -> tuple[str, int] | None:
    """(host, port) when the endpoint is on this machine, i.e. ours to start; else None."""
    parts = urlsplit(endpoint_url)
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    return parts.hostname or "127.0.0.1", parts.port or 80


def server_command(host: str, port: int) -> list[str]:
    # By path, so it starts from any working directory (devtools is not an installed package).
    return [sys.executable, str(Path(__file__).resolve()), "-H", host, "-p", str(port)]


def _serialise_recorder_writes() -> None:
    """moto's recorder appends each request with unlocked writes from its request threads, so
    concurrent uploads interleave and corrupt the recording. One lock around it fixes that."""
    from moto.moto_api._internal.recorder.models import Recorder

    original = Recorder._record_request
    lock = threading.Lock()

    def locked(self: Recorder, *args: Any, **kwargs: Any) -> None:
        with lock:
            original(self, *args, **kwargs)

    Recorder._record_request = locked  # type: ignore[method-assign]


def checked_app(credentials: dict[str, str]) -> SigV4Check:
    """moto's WSGI application (as its own server builds it) behind the signature check."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    return SigV4Check(DomainDispatcherApplication(create_backend_app), credentials)


def local_credentials() -> dict[str, str]:
    """The one key pair the API, the edge and the drills use against the local server."""
    from service.core.config import get_settings

    storage = get_settings().storage
    return {storage.access_key_id: storage.secret_access_key.get_secret_value()}


class ThreadedServer:
    """The checked server on a background thread (tests: one per test process)."""

    def __init__(self, host: str, port: int, credentials: dict[str, str]) -> None:
        from moto.server import MotoRequestHandler
        from werkzeug.serving import make_server

        self.server = make_server(
            host, port, checked_app(credentials), threaded=True, request_handler=MotoRequestHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(10)


def main() -> None:
    """moto's server (as `moto_server` runs it) behind the signature check, without moto's
    per-request access log on the console."""
    import argparse

    from moto.server import MotoRequestHandler
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=9000)
    args = parser.parse_args(sys.argv[1:])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _serialise_recorder_writes()
    run_simple(
        args.host,
        args.port,
        checked_app(local_credentials()),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()


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


def _drop_corrupt_lines(recording: Path) -> int:
    """Recordings written before the recorder lock may hold interleaved lines; keep the valid ones."""
    good: list[bytes] = []
    bad = 0
    with recording.open("rb") as f:
        for line in f:
            try:
                json.loads(line)
            except ValueError:
                bad += 1
                continue
            good.append(line if line.endswith(b"\n") else line + b"\n")
    if bad:
        log.warning("dropped %d corrupt lines from %s", bad, recording)
        print(
            f"!! S3 recording: {bad} corrupt entries dropped (objects in them are lost)", flush=True
        )
        tmp = recording.with_suffix(".jsonl.tmp")
        tmp.write_bytes(b"".join(good))
        tmp.replace(recording)
    return len(good)


def replay(endpoint_url: str, data_dir: Path) -> int:
    """Replays the recording into a fresh server; returns the number of recorded requests."""
    recording = data_dir / "recording.jsonl"
    if not recording.exists() or recording.stat().st_size == 0:
        return 0
    count = _drop_corrupt_lines(recording)
    r = httpx.post(f"{endpoint_url}/moto-api/recorder/replay-recording", timeout=600)
    r.raise_for_status()
    return count
