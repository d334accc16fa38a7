"""`make bench-recordings`: recording upload throughput and analysis cost, measured on the stack
`make up` runs (API, edge Worker in workerd, job worker, local S3 server, embedded PostgreSQL).

- Upload: 20 MB WAV uploads (multipart, with metadata and hash), through the edge (:EDGE_PORT)
  and direct to the API, one at a time, each analysed and deleted before the next, so no
  analysis competes with an upload. Wall time from the first byte sent to the 201.
- Analysis: synthetic piano performances of 1 and 3 minutes per format, timed by the worker
  itself (the recording's analysis_started_at -> analysis_finished_at: download, decode,
  analysis, storing the result), as seconds of work per minute of audio. The first analysis
  after the worker starts also pays librosa's JIT compilation; it is reported on its own.
- Memory: the worker's peak resident set (VmHWM from /proc) before any analysis and after
  analysing a recording of the longest accepted length (RECORDING_MAX_SECONDS).

Writes loadtest/results/bench-recordings-<timestamp>.json, a chart (.png), and a row in
loadtest/results/bench-recordings.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import psutil

from devtools import audio_synth
from devtools.devstack.demo_users import DEMO_PASSWORD
from devtools.devstack.processes import http_ok
from devtools.figures import append_run, record
from devtools.live_server import free_port
from loadtest.stack import local_stack
from service.core.config import REPO_ROOT, Settings

RESULTS = REPO_ROOT / "loadtest" / "results"
UPLOAD_BYTES = 20 * 1000 * 1000
TARGET_UPLOAD_SECONDS = 2.0


@contextmanager
def fresh_stack(workdir: Path) -> Iterator[tuple[str, str, psutil.Process]]:
    """The `make up` stack (loadtest.stack) on free ports with its own LOCAL_DIR; yields the
    API and edge URLs and the job worker's process."""
    api_port, edge_port, s3_port = free_port(), free_port(), free_port()
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        {
            "LOCAL_DIR": str(workdir / "local"),
            "EDGE_PORT": str(edge_port),
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "EDGE_RATE_LIMIT_PER_MINUTE": "0",
        }
    )
    api, edge = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{edge_port}"
    with local_stack(api, api_port, workdir / "stack.log"):
        deadline = time.monotonic() + 120
        while not http_ok(f"{edge}/health")():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the edge never answered at {edge}")
            time.sleep(0.5)
        yield api, edge, _job_worker()


def _job_worker(timeout: float = 120) -> psutil.Process:
    """The stack's `python -m service.worker` (started after the edge is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process().children(recursive=True):
            if "service.worker" in " ".join(child.cmdline()):
                return child
        time.sleep(0.5)
    raise RuntimeError("the stack started no job worker")


def settled_rss_mb(process: psutil.Process, timeout: float = 60) -> float:
    """Resident set once the freshly started worker has finished importing (stable for 2 s)."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        rss = process.memory_info().rss
        if rss != last:
            last, stable_since = rss, time.monotonic()
        elif time.monotonic() - stable_since > 2:
            break
        time.sleep(0.2)
    return last / 2**20


def peak_rss_mb(process: psutil.Process) -> float:
    """The process's high-water resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def performance(minutes: float) -> np.ndarray:
    """A C major scale at 120 BPM with a little human timing and dynamics, `minutes` long."""
    count = int(minutes * 120)
    notes = audio_synth.jittered(audio_synth.scale(count=count, start=0.2), 15, seed=11)
    rng = np.random.default_rng(5)
    notes = [
        audio_synth.Note(
            n.onset, n.midi, float(np.clip(n.velocity + rng.normal(0, 0.08), 0.2, 1)), n.held
        )
        for n in notes
    ]
    return audio_synth.render(notes, tail=0.5)


def wav_of_size(size: int) -> bytes:
    """A stereo 44.1 kHz WAV of about `size` bytes (about 2 minutes for 20 MB)."""
    seconds = (size - 44) / (44100 * 2 * 2)
    mono = performance(seconds / 60)
    stereo = np.stack([mono, mono * 0.9])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        assert isinstance(stream, av.AudioStream)
        frame = av.AudioFrame.from_ndarray(
            (np.clip(stereo, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1),
            format="s16",
            layout="stereo",
        )
        frame.sample_rate = 44100
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


class Client:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=600)
        r = self.http.post(
            "/api/auth/login", json={"email": "student@example.com", "password": DEMO_PASSWORD}
        )
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def upload(self, name: str, data: bytes) -> tuple[str, float]:
        metadata = {
            "originalName": name,
            "size": len(data),
            "hash": hashlib.sha256(data).hexdigest(),
        }
        started = time.perf_counter()
        r = self.http.post(
            "/api/v1/upload",
            files=[
                ("audio", (name, data, "application/octet-stream")),
                ("metadata", (None, json.dumps(metadata), "application/json")),
            ],
            headers=self.headers,
        )
        elapsed = time.perf_counter() - started
        if r.status_code != 201:
            raise RuntimeError(f"upload of {name}: {r.status_code} {r.text}")
        return str(r.json()["id"]), elapsed

    def analysed(self, rid: str, timeout: float = 1800) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.http.get(
                f"/api/v1/recordings/{rid}", headers=self.headers
            ).json()
            if body["status"] == "completed":
                return body
            if body["status"] == "failed":
                raise RuntimeError(f"analysis of {rid} failed: {body['error']}")
            time.sleep(0.2)
        raise RuntimeError(f"analysis of {rid} did not finish")

    def delete(self, rid: str) -> None:
        self.http.delete(f"/api/v1/recordings/{rid}", headers=self.headers).raise_for_status()


def worker_seconds(recording: dict[str, Any]) -> float:
    started = datetime.fromisoformat(recording["analysis_started_at"])
    finished = datetime.fromisoformat(recording["analysis_finished_at"])
    return (finished - started).total_seconds()


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def bench(repeats: int, workdir: Path, settings: Settings) -> dict[str, Any]:
    print("==> rendering test audio", flush=True)
    upload_file = wav_of_size(UPLOAD_BYTES)
    takes: dict[str, dict[str, bytes]] = {}
    for minutes in (1, 3):
        samples = performance(minutes)
        takes[f"{minutes}min"] = {
            fmt: audio_synth.encode(samples, fmt) for fmt in audio_synth.FORMATS
        }
    longest = settings.recording.max_seconds / 60
    longest_mp3 = audio_synth.encode(performance(longest - 0.05), "mp3")

    with fresh_stack(workdir) as (api, edge, worker):
        print(f"==> stack up: edge {edge}, API {api}", flush=True)
        baseline_rss = settled_rss_mb(worker)
        via = {"edge": Client(edge), "direct": Client(api)}
        # Warm-up: the first analysis compiles librosa's numba code in the worker.
        rid, _ = via["direct"].upload("warm-up.wav", takes["1min"]["wav"])
        first = worker_seconds(via["direct"].analysed(rid))
        via["direct"].delete(rid)

        uploads: dict[str, list[float]] = {"edge": [], "direct": []}
        for i in range(repeats):
            for name, client in via.items():
                rid, seconds = client.upload(f"upload-{name}-{i}.wav", upload_file)
                uploads[name].append(seconds)
                client.analysed(rid)  # nothing runs during the next upload
                client.delete(rid)
                print(f"  20 MB upload via {name}: {seconds:.2f} s", flush=True)

        analysis: dict[str, dict[str, Any]] = {}
        for fmt in audio_synth.FORMATS:
            per_minute = []
            for label, files in takes.items():
                rid, _ = via["direct"].upload(f"{label}.{fmt}", files[fmt])
                done = via["direct"].analysed(rid)
                seconds = worker_seconds(done)
                minutes = done["duration_seconds"] / 60
                per_minute.append(seconds / minutes)
                print(
                    f"  {label} {fmt}: {seconds:.2f} s of analysis ({seconds / minutes:.2f} s/min)",
                    flush=True,
                )
                via["direct"].delete(rid)
            analysis[fmt] = {
                "seconds_per_audio_minute": summary(per_minute),
                "file_bytes_per_minute": len(takes["1min"][fmt]),
            }

        typical_peak = peak_rss_mb(worker)
        rid, _ = via["direct"].upload("longest.mp3", longest_mp3)
        done = via["direct"].analysed(rid)
        longest_seconds = worker_seconds(done)
        peak = peak_rss_mb(worker)
        via["direct"].delete(rid)
        print(
            f"  {done['duration_seconds']:.0f} s mp3: {longest_seconds:.1f} s, worker peak RSS {peak:.0f} MiB"
        )

    mb = UPLOAD_BYTES / 1e6
    return {
        "upload": {
            "file": f"{len(upload_file)} bytes, WAV stereo 44.1 kHz 16-bit",
            "repeats": repeats,
            "target_seconds": TARGET_UPLOAD_SECONDS,
            **{
                name: {
                    "seconds": summary(values),
                    "mb_per_second_median": round(mb / statistics.median(values), 1),
                    "under_target": sum(v < TARGET_UPLOAD_SECONDS for v in values),
                }
                for name, values in uploads.items()
            },
        },
        "analysis": {
            "first_job_seconds_with_jit": round(first, 2),
            "per_format": analysis,
            "longest_recording": {
                "seconds_of_audio": done["duration_seconds"],
                "format": "mp3",
                "analysis_seconds": round(longest_seconds, 2),
            },
        },
        "worker_memory_mib": {
            "idle_after_start": round(baseline_rss, 1),
            "peak_after_3_minute_recordings": round(typical_peak, 1),
            "peak_after_longest_recording": round(peak, 1),
        },
    }


def chart(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    upload = record["upload"]
    names = ["edge", "direct"]
    left.bar(names, [upload[n]["seconds"]["median"] for n in names], color=["#4c72b0", "#55a868"])
    left.errorbar(
        names,
        [upload[n]["seconds"]["median"] for n in names],
        yerr=[
            [upload[n]["seconds"]["median"] - upload[n]["seconds"]["min"] for n in names],
            [upload[n]["seconds"]["max"] - upload[n]["seconds"]["median"] for n in names],
        ],
        fmt="none",
        color="black",
        capsize=6,
    )
    left.axhline(TARGET_UPLOAD_SECONDS, color="red", linestyle="--", label="target 2 s")
    left.set_ylabel("seconds")
    left.set_title("20 MB upload (median, min-max)")
    left.legend()
    formats = list(record["analysis"]["per_format"])
    right.bar(
        formats,
        [
            record["analysis"]["per_format"][f]["seconds_per_audio_minute"]["median"]
            for f in formats
        ],
        color="#8172b2",
    )
    right.set_ylabel("seconds of analysis per minute of audio")
    right.set_title("Local analyser, in the worker")
    fig.suptitle(f"make bench-recordings, {record['timestamp']} ({record['machine']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench_recordings")
    parser.add_argument("--repeats", type=int, default=5, help="20 MB uploads per path")
    args = parser.parse_args(argv)
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="bench-recordings-") as tmp:
        figures = bench(args.repeats, Path(tmp), settings)
    command = "make bench-recordings" + (f" REPEATS={args.repeats}" if args.repeats != 5 else "")
    run = record(
        "recordings", command, "loadtest.bench_recordings", argv or sys.argv[1:], **figures
    )
    print(json.dumps(run, indent=2))
    chart(run, RESULTS / "bench-recordings.png")
    up, an = figures["upload"], figures["analysis"]

    def cell(s: dict[str, float]) -> str:
        return f"{s['median']} ({s['min']}-{s['max']})"

    per = " / ".join(
        str(an["per_format"][f]["seconds_per_audio_minute"]["median"]) for f in audio_synth.FORMATS
    )
    append_run(
        RESULTS,
        "bench-recordings",
        run,
        "# make bench-recordings\n\n"
        "Upload: 20 MB WAV, median (min-max) seconds, through the edge Worker and direct to the "
        "API; the spec's target is under 2 s. Analysis: seconds of worker time per minute of "
        "audio (local analyser). Memory: the job worker's peak RSS after analysing a recording "
        "of the longest accepted length. Chart: `bench-recordings.png` (latest run).\n\n"
        "| timestamp | CPUs (load) | upload edge s | upload direct s | analysis s/min wav / mp3 / m4a | longest (s audio: s) | worker peak MiB | command |\n"
        "|---|---|---|---|---|---|---|---|\n",
        f"| {run['timestamp']} | {run['machine']['cpus']} ({run['machine']['load_average_1m_at_end']}) | "
        f"{cell(up['edge']['seconds'])} | {cell(up['direct']['seconds'])} | {per} | "
        f"{an['longest_recording']['seconds_of_audio']:.0f}: {an['longest_recording']['analysis_seconds']} | "
        f"{figures['worker_memory_mib']['peak_after_longest_recording']} | `{command}` |\n",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
