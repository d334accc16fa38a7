"""Chunk counts per owner, used to estimate how selective a caller's scope is.

One grouped scan per knowledge change (keyed by the global generation), cached in the process:
scopes are then sized in Python without touching the database again.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from psycopg import sql

from service.access.scope import AccessScope
from service.core.db import Conn


@dataclass(frozen=True)
class ChunkCounts:
    total: int
    public: int
    by_owner_private: dict[UUID | None, int]

    def scope_rows(self, scope: AccessScope) -> int:
        if scope.everything:
            return self.total
        return self.public + sum(self.by_owner_private.get(o, 0) for o in scope.owner_ids)


class ChunkStatsCache:
    def __init__(self) -> None:
        self._cached: dict[str, tuple[int, ChunkCounts]] = {}

    async def counts(self, conn: Conn, model: str, generation: int) -> ChunkCounts:
        hit = self._cached.get(model)
        if hit is not None and hit[0] == generation:
            return hit[1]
        cur = await conn.execute(
            sql.SQL(
                "SELECT owner_id, is_public, count(*) AS n FROM document_chunks "
                "WHERE embedding_model = {} GROUP BY owner_id, is_public"
            ).format(sql.Literal(model))
        )
        total = public = 0
        private: dict[UUID | None, int] = {}
        for r in await cur.fetchall():
            total += r["n"]
            if r["is_public"]:
                public += r["n"]
            else:
                private[r["owner_id"]] = private.get(r["owner_id"], 0) + r["n"]
        counts = ChunkCounts(total, public, private)
        self._cached[model] = (generation, counts)
        return counts


async def pgvector_version(conn: Conn) -> tuple[int, ...]:
    cur = await conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    row = await cur.fetchone()
    if not row:
        return (0,)
    return tuple(int(p) for p in str(row["extversion"]).split(".") if p.isdigit())
