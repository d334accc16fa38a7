"""Confirm downloads and parses the PDF without holding a pooled connection: many confirms at
once on a small pool leave the rest of the API answering."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.conftest import ApiSettings, StartApi
from tests.factories import Accounts
from tests.projects.conftest import UPLOAD_LIMIT, create_project, upload

CONFIRMS = 16


def test_concurrent_confirms_do_not_exhaust_a_small_pool(
    start_api: StartApi, api_settings: ApiSettings, clean_db: str, scan_pdf: Path
) -> None:
    """The 38-page scan takes a while to download and parse; with the connection held through it
    (as before), 16 confirms on a pool of 2 made everything else wait past the pool timeout
    and answer 503 database_unavailable."""
    small_pool = start_api(
        api_settings(
            upload_max_bytes=UPLOAD_LIMIT,
            db_pool_min_size=1,
            db_pool_max_size=2,
            db_pool_timeout_seconds=1,
        )
    )
    data = scan_pdf.read_bytes()
    with httpx.Client(base_url=small_pool.url, timeout=120) as client:
        owner = Accounts(client, clean_db).create("teacher")
        ids = []
        for i in range(CONFIRMS):
            created = create_project(client, owner, title=f"Scan {i}", size=len(data))
            assert upload(created["upload_url"], data).is_success
            ids.append(created["project"]["id"])

        others: list[int] = []
        done = threading.Event()

        def keep_asking() -> None:
            while not done.is_set():
                others.append(client.get("/api/projects", headers=owner.headers).status_code)
                time.sleep(0.05)

        poller = threading.Thread(target=keep_asking)
        poller.start()
        try:
            with ThreadPoolExecutor(CONFIRMS) as pool:
                confirms = list(
                    pool.map(
                        lambda pid: client.post(
                            f"/api/projects/{pid}/confirm", headers=owner.headers
                        ),
                        ids,
                    )
                )
        finally:
            done.set()
            poller.join()
    assert [r.status_code for r in confirms] == [200] * CONFIRMS, [
        r.text for r in confirms if r.status_code != 200
    ][:2]
    assert all(r.json()["page_count"] == 38 for r in confirms)
    assert others and set(others) == {200}, f"other requests failed meanwhile: {set(others)}"
