"""Cited sources link to the document file at the right page, checked against the caller's scope."""

from __future__ import annotations

import httpx
import psycopg

from tests.conftest import CORPUS_DIR
from tests.factories import Accounts
from tests.retrieval.conftest import SyncEmbedder
from tests.retrieval.seed import add_document

PDF = "cooke-1913-scans-pdf/cooke_1913_pp003-040_scans_textlayer.pdf"


def test_pdf_source_links_to_page_and_serves_the_file(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    assert (CORPUS_DIR / PDF).is_file()
    teacher = accounts.create("teacher")
    other = accounts.create("teacher")
    text = "Octave playing demands a loose wrist and a light, quick motion from the hand."
    add_document(
        db,
        owner_id=teacher.id,
        is_public=False,
        title="Cooke scans",
        chunks=[(text, embed([text])[0])],
        source_url="corpus://" + PDF,
        first_page=17,
    )
    r = client.post(
        "/api/chat/query", json={"query": "How do I play octaves?"}, headers=teacher.headers
    )
    source = r.json()["sources"][0]
    assert source["page"] == 17 and source["pages"] == {"start": 17, "end": 17}
    path, _, fragment = source["url"].partition("#")
    assert fragment == "page=17"
    f = client.get(path, headers=teacher.headers)
    assert f.status_code == 200
    assert f.headers["content-type"] == "application/pdf"
    assert f.content.startswith(b"%PDF")
    # Outside the scope the file does not exist.
    r = client.get(path, headers=other.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found"


def test_video_source_links_with_timestamp(
    client: httpx.Client, accounts: Accounts, db: psycopg.Connection, embed: SyncEmbedder
) -> None:
    teacher = accounts.create("teacher")
    texts = ["Welcome to the lesson.", "Now the trill: alternate fingers two and three evenly."]
    add_document(
        db,
        owner_id=teacher.id,
        is_public=False,
        title="Trill lesson",
        source_type="youtube",
        source_url="https://www.youtube.com/watch?v=abc123",
        chunks=[(t, embed([t])[0]) for t in texts],
    )
    r = client.post(
        "/api/chat/query",
        json={"query": "how to play a trill evenly", "top_k": 1},
        headers=teacher.headers,
    )
    source = r.json()["sources"][0]
    assert source["timestamp_seconds"] == 30.0
    assert source["url"] == "https://www.youtube.com/watch?v=abc123&t=30"
