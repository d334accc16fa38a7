"""Tutor fixtures: the real embedder, an API answering offline, planted recordings with a
completed analysis (as the analysis worker would leave them), and an SSE reader that sees the
stream the way both kinds of client do."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from service.analysis.dimensions import NAMES
from service.search.query_embedding import QueryEmbedder
from tests.conftest import Api, ApiSettings, StartApi
from tests.factories import Account
from tests.retrieval.conftest import SyncEmbedder, embed, embedder  # noqa: F401  (fixtures)
from tests.retrieval.seed import add_document
from tests.sse import sse_blocks

METRICS_TOKEN = "tutor-metrics"
QUESTION = "How did my last recording go, and what should I practise this week?"
PASSAGES = [
    "Practise slowly with a metronome until the time is steady; unsteady timing comes from "
    "rushing the easy bars.",
    "Steady rhythm grows from counting aloud and from practising each hand alone at a slow tempo.",
    "The pedal should be changed after the harmony, never before it.",
]


@pytest.fixture(scope="session")
def live_api(start_api: StartApi, api_settings: ApiSettings, embedder: QueryEmbedder) -> Api:  # noqa: F811
    settings = api_settings(
        llm_provider="extractive", cache_backend="none", metrics_token=METRICS_TOKEN
    )
    return start_api(settings, embedder=embedder)


@pytest.fixture
def db(clean_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(clean_db, autocommit=True) as conn:
        yield conn


def plant_books(db: psycopg.Connection, embed: SyncEmbedder, passages: list[str] = PASSAGES) -> str:  # noqa: F811
    return add_document(
        db,
        owner_id=None,
        is_public=True,
        title="Piano Playing",
        chunks=[(p, embed([p])[0]) for p in passages],
        first_page=40,
    )


def plant_recording(
    db: psycopg.Connection,
    owner: Account,
    name: str = "etude.wav",
    scores: dict[str, float] | None = None,
    status: str = "completed",
) -> str:
    """A recording row and, when completed, its analysis: every dimension 0.5 unless given."""
    rid = str(uuid.uuid4())
    overall = {n: 0.5 for n in NAMES} | (scores or {})
    segments = [
        {
            "label": f"0:{3 * i:02d}-0:{3 * i + 3:02d}",
            "start_seconds": 3.0 * i,
            "end_seconds": 3.0 * i + 3,
            # The third segment leans hardest, so it is the one the tutor should point to.
            "scores": {
                n: min(1.0, max(0.0, 0.5 + (v - 0.5) * (1.2 if i == 2 else 0.8)))
                for n, v in overall.items()
            },
            "reasons": {},
            "measurements": {},
        }
        for i in range(4)
    ]
    digest = hashlib.sha256(rid.encode()).hexdigest()
    with db.transaction():
        db.execute(
            "INSERT INTO recordings (id, user_id, original_filename, format, codec, storage_key, "
            "size_bytes, sha256, duration_seconds, sample_rate, channels, status) "
            "VALUES (%s, %s, %s, 'wav', 'pcm_s16le', %s, 1000, %s, 12.0, 44100, 1, %s)",
            (rid, owner.id, name, f"recordings/{owner.id}/{rid}.wav", digest, status),
        )
        if status == "completed":
            db.execute(
                "INSERT INTO recording_analyses (recording_id, analyzer, analyzer_version, "
                "duration_seconds, segment_seconds, scores, reasons, measurements, segments, "
                "definitions) VALUES (%s, 'planted', '1', 12.0, 3.0, %s, '{}', '{}', %s, '{}')",
                (rid, Jsonb(overall), Jsonb(segments)),
            )
    return rid


@dataclass
class Stream:
    status: int
    events: list[tuple[str, dict[str, Any]]]  # named events, in order
    data_lines: list[str]  # every `data:` payload, as a plain-lines client reads them
    headers: httpx.Headers

    def named(self, name: str) -> list[dict[str, Any]]:
        return [d for n, d in self.events if n == name]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    @property
    def text(self) -> str:
        return "".join(d["text"] for d in self.named("delta"))

    @property
    def done(self) -> dict[str, Any]:
        return self.named("done")[-1]


def ask(client: httpx.Client, who: Account, message: str = QUESTION, **body: Any) -> Stream:
    with client.stream(
        "POST", "/api/v1/chat", json={"message": message, **body}, headers=who.headers
    ) as r:
        raw = r.read().decode()
    if r.status_code != 200:
        return Stream(r.status_code, [("http_error", json.loads(raw))], [], r.headers)
    events: list[tuple[str, dict[str, Any]]] = []
    data_lines: list[str] = []
    for name, data in sse_blocks(raw):
        if data:
            data_lines.append("\n".join(data))
        if name and data:
            payload = json.loads("\n".join(data))
            assert payload["type"] == name  # every frame names its own type
            events.append((name, payload))
    return Stream(r.status_code, events, data_lines, r.headers)


def set_context(client: httpx.Client, who: Account, **values: Any) -> None:
    r = client.put("/api/v1/context", json=values, headers=who.headers)
    assert r.status_code == 200, r.text
