"""Cache backends. The default is an UNLOGGED PostgreSQL table: no extra server, and every API
instance shares it, with a short-lived copy in each process in front of it (`NearCache`).
`memory` is per process; `none` disables caching."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from service.core.db import Conn, Pool


class CacheBackend(Protocol):
    async def get(self, key: str) -> Any | None: ...

    async def set(self, key: str, layer: str, value: Any, ttl_seconds: int) -> None: ...

    async def purge(self, layer: str | None) -> int: ...


class NullCache:
    async def get(self, key: str) -> Any | None:
        return None

    async def set(self, key: str, layer: str, value: Any, ttl_seconds: int) -> None:
        return None

    async def purge(self, layer: str | None) -> int:
        return 0


class MemoryCache:
    """Bounded LRU with expiry; for single-process use and tests."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._data: OrderedDict[str, tuple[float, str, Any]] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> Any | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return item[2]

    async def set(self, key: str, layer: str, value: Any, ttl_seconds: int) -> None:
        self._data[key] = (time.monotonic() + ttl_seconds, layer, value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    async def purge(self, layer: str | None) -> int:
        keys = [k for k, v in self._data.items() if layer is None or v[1] == layer]
        for k in keys:
            del self._data[k]
        return len(keys)


class PostgresCache:
    """rag_cache (0005_chat.sql). Short pool timeout: a slow cache must not slow the answer.

    A write is one statement; expired rows are deleted in the background (`sweep_expired`,
    service/cache/upkeep.py), not on the request path.
    """

    def __init__(self, pool: Pool, timeout_seconds: float = 0.5) -> None:
        self._pool = pool
        self._timeout = timeout_seconds

    async def get(self, key: str) -> Any | None:
        async with self._pool.connection(timeout=self._timeout) as conn:
            cur = await conn.execute(
                "SELECT value FROM rag_cache WHERE key = %s AND expires_at > now()", (key,)
            )
            row = await cur.fetchone()
        return row["value"] if row else None

    async def set(self, key: str, layer: str, value: Any, ttl_seconds: int) -> None:
        async with self._pool.connection(timeout=self._timeout) as conn:
            await conn.execute(
                "INSERT INTO rag_cache (key, layer, value, expires_at) "
                "VALUES (%s, %s, %s, now() + make_interval(secs => %s)) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                "expires_at = EXCLUDED.expires_at",
                (key, layer, Jsonb(value), ttl_seconds),
            )

    async def purge(self, layer: str | None) -> int:
        async with self._pool.connection(timeout=self._timeout) as conn:
            if layer is None:
                cur = await conn.execute("DELETE FROM rag_cache")
            else:
                cur = await conn.execute("DELETE FROM rag_cache WHERE layer = %s", (layer,))
            return cur.rowcount


async def sweep_expired(conn: Conn, batch: int = 5000) -> int:
    """Deletes expired rag_cache rows, `batch` at a time so no statement runs long."""
    deleted = 0
    while True:
        cur = await conn.execute(
            "DELETE FROM rag_cache WHERE key IN (SELECT key FROM rag_cache "
            "WHERE expires_at <= now() LIMIT %s)",
            (batch,),
        )
        deleted += cur.rowcount
        if cur.rowcount < batch:
            return deleted


class NearCache:
    """A per-process copy in front of a shared backend, so a repeated question's cache reads
    don't wait for the database: on a loaded machine each round trip waits for a core.

    Safe to keep briefly because the engine's keys carry everything their value depends on,
    including the scope's knowledge generation: a document change is seen at once everywhere. Two
    things the copy can lag by at most `ttl_seconds`: a purge made by another process, and an
    entry's expiry in the shared table. Values are shared, not copied: callers must not change
    them.
    """

    def __init__(self, far: CacheBackend, ttl_seconds: int, max_entries: int) -> None:
        self.far = far
        self.near = MemoryCache(max_entries)
        self._ttl = ttl_seconds

    async def get(self, key: str) -> Any | None:
        value = await self.near.get(key)
        if value is not None:
            return value
        value = await self.far.get(key)
        if value is not None:
            await self.near.set(key, "", value, self._ttl)
        return value

    async def set(self, key: str, layer: str, value: Any, ttl_seconds: int) -> None:
        await self.far.set(key, layer, value, ttl_seconds)
        await self.near.set(key, layer, value, min(ttl_seconds, self._ttl))

    async def purge(self, layer: str | None) -> int:
        # All of it: the copy is only a shortcut, and entries read from the far side have no layer.
        await self.near.purge(None)
        return await self.far.purge(layer)
