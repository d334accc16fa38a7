"""Reads knowledge uploads from the object store (boto3 is sync, so it runs in a thread)."""

from __future__ import annotations

import asyncio

from service.core.config import Settings
from service.knowledge.sources import ObjectGetter
from service.storage import ObjectStore


def object_getter(settings: Settings, store: ObjectStore | None = None) -> ObjectGetter:
    store = store or ObjectStore(settings)
    bucket = settings.storage.bucket_knowledge

    async def get(key: str) -> bytes:
        return await asyncio.to_thread(store.get_bytes, bucket, key)

    return get
