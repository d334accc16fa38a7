"""A local stand-in for Cloudflare's Workers AI REST API (unreachable from CI).

It speaks the documented wire format: `POST /accounts/{account}/ai/run/@cf/baai/bge-base-en-v1.5`
with `{"text": [...]}` and a bearer token, answering Cloudflare's envelope
`{"result": {"shape": [n, 768], "data": [[...], ...]}, "success": true, "errors": [], "messages": []}`
(developers.cloudflare.com/workers-ai/models/bge-base-en-v1.5). Vectors are deterministic per text.
Tests script failures (429/5xx with Retry-After) and per-request delays.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from tests.fake_http import LocalServer, QuietHandler

ACCOUNT = "test-account"
TOKEN = "test-token"
MODEL = "@cf/baai/bge-base-en-v1.5"
DIM = 768


def vector_for(text: str, dim: int = DIM) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % 32] + i * 31) % 251) / 125.0 - 1.0 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


@dataclass
class Scripted:
    status: int
    retry_after: str | None = None


@dataclass
class FakeWorkersAI:
    delay_seconds: float = 0.0
    script: deque[Scripted] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append({"path": self.path, "json": payload})
                    step = fake.script.popleft() if fake.script else None
                if self.path != f"/client/v4/accounts/{ACCOUNT}/ai/run/{MODEL}":
                    self.send_json(404, _envelope_error(7000, "No route for that URI"), {})
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_json(401, _envelope_error(10000, "Authentication error"), {})
                    return
                if step is not None:
                    headers = {"Retry-After": step.retry_after} if step.retry_after else {}
                    self.send_json(
                        step.status, _envelope_error(3040, "Capacity temporarily exceeded"), headers
                    )
                    return
                if fake.delay_seconds:
                    time.sleep(fake.delay_seconds)
                texts = payload.get("text")
                texts = [texts] if isinstance(texts, str) else texts
                data = [vector_for(t) for t in texts]
                self.send_json(
                    200,
                    {
                        "result": {"shape": [len(data), DIM], "data": data, "pooling": "mean"},
                        "success": True,
                        "errors": [],
                        "messages": [],
                    },
                    {},
                )

        self.http = LocalServer(Handler)
        self.base_url = f"{self.http.url}/client/v4"

    def close(self) -> None:
        self.http.close()

    def settings_overrides(self) -> dict[str, object]:
        return {
            "embedding_provider": "workers-ai",
            "workers_ai_base_url": self.base_url,
            "cloudflare_account_id": ACCOUNT,
            "workers_ai_api_token": SecretStr(TOKEN),
        }

    def env(self) -> dict[str, str]:
        return {
            "EMBEDDING_PROVIDER": "workers-ai",
            "WORKERS_AI_BASE_URL": self.base_url,
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
            "WORKERS_AI_API_TOKEN": TOKEN,
        }


def _envelope_error(code: int, message: str) -> dict[str, Any]:
    return {
        "result": None,
        "success": False,
        "errors": [{"code": code, "message": message}],
        "messages": [],
    }
