"""The hourly cleanup job, run by procrastinate as the worker runs it: stale pending uploads and
stray objects go, everything in use stays, and no row is left pointing at a missing object."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import psycopg

from service.core.db import create_pool
from service.knowledge.queue import QUEUE, WorkerRuntime
from service.maintenance.stale_uploads import NAMESPACE
from service.storage import ObjectStore, upload_key
from service.worker import build_worker_app
from tests.conftest import Api
from tests.factories import Account, Accounts
from tests.projects.conftest import create_project, ready_project, small_pdf, upload

DAY = 24 * 3600


def _sql(url: str, query: str, *params: Any) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)


def _knowledge_upload(client: httpx.Client, teacher: Account, title: str) -> dict[str, Any]:
    data = b"Play slowly. Listen to every note.\n"
    created: dict[str, Any] = client.post(
        "/api/knowledge",
        json={"title": title, "source_type": "text", "filename": "n.txt", "file_size": len(data)},
        headers=teacher.headers,
    ).json()
    upload_instructions = created["upload"]
    httpx.put(
        upload_instructions["upload_url"],
        content=data,
        headers=upload_instructions["upload_headers"],
    ).raise_for_status()
    return created["document"]


def _run_scheduled_sweep(api: Api, url: str, at: float) -> None:
    """Defers the periodic task for the tick `at` and lets a worker process it, exactly as the
    worker's periodic deferrer would."""
    settings = api.settings.model_copy(update={"database_url": url})

    async def run() -> None:
        app = build_worker_app(url)
        assert (f"{NAMESPACE}:sweep_stale_uploads", "stale-uploads") in (
            app.periodic_registry.periodic_tasks
        ), "scheduled, not only callable"
        pool = create_pool(settings, url)
        await pool.open(wait=True)
        runtime = WorkerRuntime.build(settings, pool)
        try:
            async with app.open_async():
                await app.configure_task(f"{NAMESPACE}:sweep_stale_uploads").defer_async(
                    timestamp=int(at)
                )
                await app.run_worker_async(
                    queues=[QUEUE], wait=False, additional_context=runtime.context()
                )
        finally:
            runtime.close()
            await pool.close()

    asyncio.run(run())


def test_the_scheduled_sweep_removes_stale_uploads_and_strays_only(
    client: httpx.Client, accounts: Accounts, live_api: Api, clean_db: str
) -> None:
    settings = live_api.settings
    store = ObjectStore(settings)
    projects_bucket, knowledge_bucket = (
        settings.storage.bucket_projects,
        settings.storage.bucket_knowledge,
    )
    owner = accounts.create("teacher")

    def pending_with_upload(title: str) -> tuple[str, str]:
        created = create_project(client, owner, title=title)
        assert upload(created["upload_url"], small_pdf()).is_success
        project_id = created["project"]["id"]
        return project_id, f"projects/{owner.id}/{project_id}/scales.pdf"

    stale, stale_key = pending_with_upload("never confirmed")
    fresh, fresh_key = pending_with_upload("uploading now")
    ready = ready_project(client, owner)
    ready_key = f"projects/{owner.id}/{ready}/scales.pdf"
    # The owner uses the upload URL again after confirm: never served, but it takes room.
    store.put_bytes(projects_bucket, upload_key(ready_key), small_pdf(2), "application/pdf")
    stuck = ready_project(client, owner)
    stuck_key = f"projects/{owner.id}/{stuck}/scales.pdf"
    stray_key = f"projects/{uuid.uuid4()}/{uuid.uuid4()}/lost.pdf"
    store.put_bytes(projects_bucket, stray_key, small_pdf(1), "application/pdf")

    unprocessed = _knowledge_upload(client, owner, "uploaded, never processed")
    kept_doc = _knowledge_upload(client, owner, "processed")
    knowledge_stray = f"knowledge/{owner.id}/{uuid.uuid4()}/gone.txt"
    store.put_bytes(knowledge_bucket, knowledge_stray, b"x", "text/plain")

    # The sweep runs "two days from now": every object is older than a day by then. Rows get
    # their ages explicitly: the fresh project is created "then", the rest a day or more before.
    _sql(
        clean_db, "UPDATE projects SET created_at = now() + interval '2 days' WHERE id = %s", fresh
    )
    _sql(clean_db, "UPDATE projects SET status = 'deleting' WHERE id = %s", stuck)
    _sql(
        clean_db,
        "UPDATE knowledge_documents SET status = 'completed', processing_started_at = now() "
        "WHERE id = %s",
        kept_doc["id"],
    )
    _run_scheduled_sweep(live_api, clean_db, time.time() + 2 * DAY)

    with psycopg.connect(clean_db) as conn:
        rows = conn.execute("SELECT id::text FROM projects").fetchall()
    projects_left = {r[0] for r in rows}
    assert stale not in projects_left and stuck not in projects_left
    assert projects_left == {fresh, ready}, "the stale pending and the stuck deleting went"
    documents_left = {
        d["id"] for d in client.get("/api/knowledge", headers=owner.headers).json()["items"]
    }
    assert unprocessed["id"] not in documents_left and kept_doc["id"] in documents_left

    project_objects = set(store.list_keys(projects_bucket, ""))
    assert upload_key(fresh_key) in project_objects, "a young upload stays"
    assert ready_key in project_objects, "a confirmed file stays"
    for gone in (upload_key(stale_key), upload_key(ready_key), stuck_key, stray_key):
        assert gone not in project_objects, gone
    knowledge_objects = set(store.list_keys(knowledge_bucket, ""))
    assert knowledge_stray not in knowledge_objects
    assert any(kept_doc["id"] in k for k in knowledge_objects)
    assert not any(unprocessed["id"] in k for k in knowledge_objects)

    # Every row that names an object still has it.
    with psycopg.connect(clean_db) as conn:
        keys = conn.execute("SELECT storage_key FROM projects WHERE status = 'ready'").fetchall()
    assert {k for (k,) in keys} <= project_objects
    # And the young pending project can still be confirmed.
    r = client.post(f"/api/projects/{fresh}/confirm", headers=owner.headers)
    assert r.status_code == 200, r.text
