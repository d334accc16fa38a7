"""A local stand-in for the external perceptual model service (not reachable from CI).

It speaks the contract in service/analysis/http.py: `POST /analyze` with a bearer token and the
JSON request, answered with `{"model", "scores", "reasons", "segments"}`. Like the real service it
fetches the audio from the presigned URL it is given (so the URL must really work) and checks it
is the announced format. Tests script failures (status codes, Retry-After, delays, broken answers).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from service.analysis.dimensions import NAMES
from service.recordings.formats import sniff
from tests.fake_http import LocalServer, QuietHandler

TOKEN = "model-service-token"
MODEL = {"name": "percepiano-16", "version": "2024.06"}
# What a 16-dimension model scores; the other catalogue dimensions are left out.
SCORED = NAMES[:16]


@dataclass
class Step:
    status: int = 200
    body: Any = None  # None: a valid answer
    delay: float = 0.0
    retry_after: str | None = None


@dataclass
class FakeModelService:
    script: deque[Step] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)  # bytes of audio fetched per request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append(payload)
                    step = fake.script.popleft() if fake.script else Step()
                if self.path != "/analyze":
                    self.send_json(404, {"error": "no such route"})
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_json(401, {"error": "bad token"})
                    return
                time.sleep(step.delay)
                if step.status != 200:
                    headers = {"Retry-After": step.retry_after} if step.retry_after else {}
                    self.send_json(step.status, {"error": "scripted"}, headers)
                    return
                if step.body is not None:
                    self.send_json(200, step.body)
                    return
                with urllib.request.urlopen(payload["audio_url"], timeout=10) as audio:
                    data = audio.read()
                fake.fetched.append(len(data))
                found = sniff(data[:12])
                if found is None or found.name != payload["format"]:
                    self.send_json(422, {"error": "not the announced format"})
                    return
                self.send_json(200, answer(payload["duration_seconds"], payload["segment_seconds"]))

        self.http = LocalServer(Handler)
        self.url = self.http.url

    def close(self) -> None:
        self.http.close()


def answer(duration: float, segment: float) -> dict[str, Any]:
    """Scores the model would give: fixed per dimension, varying a little per segment."""
    scores: dict[str, float | None] = {n: round(0.2 + 0.04 * i, 2) for i, n in enumerate(SCORED)}
    scores["pedal_clean_blurred"] = None
    segments: list[dict[str, Any]] = []
    start = 0.0
    while start < duration:
        end = min(duration, start + segment)
        segments.append(
            {
                "start_seconds": start,
                "end_seconds": end,
                "scores": {
                    n: round(min(1.0, (v or 0) + 0.01 * len(segments)), 2)
                    for n, v in scores.items()
                },
                "reasons": {},
            }
        )
        start = end
    return {
        "model": MODEL,
        "scores": scores,
        "reasons": {"pedal_clean_blurred": "Too little pedal to judge."},
        "segments": segments,
    }
