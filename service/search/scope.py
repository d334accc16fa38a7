"""Who may read which chunks. Every search, cache key and answer goes through an AccessScope."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from service.core.db import Conn
from service.repositories import relationships


@dataclass(frozen=True)
class AccessScope:
    """`everything` for admins; otherwise public chunks plus the chunks of `owner_ids`."""

    everything: bool
    owner_ids: frozenset[UUID] = frozenset()

    @property
    def generation_keys(self) -> list[str]:
        """Rows of knowledge_generations whose sum versions this scope (see 0005_chat.sql)."""
        if self.everything:
            return ["all"]
        return ["public", *(f"owner:{o}" for o in sorted(self.owner_ids, key=str))]

    @property
    def fingerprint(self) -> str:
        """Stable hash naming the scope in cache keys."""
        text = "all" if self.everything else "public+" + ",".join(sorted(map(str, self.owner_ids)))
        return hashlib.sha256(text.encode()).hexdigest()

    def allows(self, owner_id: UUID | None, is_public: bool) -> bool:
        return self.everything or is_public or (owner_id is not None and owner_id in self.owner_ids)


async def scope_for(conn: Conn, user_id: UUID, role: str) -> AccessScope:
    """Student: public + linked teachers'; teacher: public + own; admin: everything."""
    if role == "admin":
        return AccessScope(everything=True)
    if role == "student":
        teachers = await relationships.teacher_ids_of_student(conn, user_id)
        return AccessScope(everything=False, owner_ids=frozenset(teachers))
    return AccessScope(everything=False, owner_ids=frozenset({user_id}))


@dataclass(frozen=True)
class Generations:
    scope: int  # changes whenever anything in the caller's scope changes
    everything: int  # changes whenever any chunk or document changes


async def generations(conn: Conn, scope: AccessScope) -> Generations:
    cur = await conn.execute(
        "SELECT coalesce(sum(generation) FILTER (WHERE scope_key = ANY(%s)), 0)::bigint AS s, "
        "coalesce(max(generation) FILTER (WHERE scope_key = 'all'), 0)::bigint AS a "
        "FROM knowledge_generations",
        (scope.generation_keys,),
    )
    row = await cur.fetchone()
    return Generations(int(row["s"]), int(row["a"])) if row else Generations(0, 0)
