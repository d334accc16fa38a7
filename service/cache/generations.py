"""Knowledge versions that cached search results and answers are keyed on.

Triggers bump a row of knowledge_generations per scope key whenever a document or chunk changes
(0005_chat.sql); a cache key carrying the scope's sum stops matching after any change it could see.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.access.scope import AccessScope
from service.core.db import Conn


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
