"""Knowledge versions that cached search results and answers are keyed on.

Triggers bump a row of knowledge_generations per scope key whenever a document or chunk changes
(0005_chat.sql); a cache key carrying the scope's sum stops matching after any change it could see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from psycopg.rows import DictRow
from psycopg.sql import SQL, Literal

from service.access.scope import OWNER_KEY, AccessScope, links_of, scope_of
from service.core.db import Conn, Statement, run


@dataclass(frozen=True)
class Generations:
    scope: int  # changes whenever anything in the caller's scope changes
    everything: int  # changes whenever any chunk or document changes

    @classmethod
    def of(cls, rows: dict[str, int], scope: AccessScope) -> Generations:
        """From the generation rows (key -> generation) that `scope` names, and 'all'."""
        return cls(sum(rows.get(k, 0) for k in scope.generation_keys), rows.get("all", 0))


async def generations(conn: Conn, scope: AccessScope) -> Generations:
    cur = await conn.execute(
        "SELECT scope_key, generation FROM knowledge_generations WHERE scope_key = ANY(%s)",
        ([*scope.generation_keys, "all"],),
    )
    return Generations.of(
        {r["scope_key"]: int(r["generation"]) for r in await cur.fetchall()}, scope
    )


# The links a caller's scope rests on and every generation row that scope can name, from one
# snapshot. Rows the scope doesn't name (a student's own key, a teacher's students') are read
# and then left out of the sum by `Generations.of`.
_SCOPE = SQL("""
WITH links(id) AS ({links})
SELECT coalesce((SELECT array_agg(id) FROM links), '{{}}') AS links,
       coalesce((SELECT jsonb_object_agg(scope_key, generation) FROM knowledge_generations
                  WHERE scope_key IN ('public', 'all', %(own_key)s)
                     OR scope_key IN (SELECT {owner} || id::text FROM links)),
                '{{}}') AS generations
""")
_NO_LINKS = SQL("SELECT NULL::uuid WHERE false")

ScopeWithGenerations = tuple[AccessScope, Generations]


async def scope_with_generations(conn: Conn, user_id: UUID, role: str) -> ScopeWithGenerations:
    """`scope_for`, then `generations` of that scope: every question needs both, in one round
    trip."""
    return await run(conn, scope_statement(user_id, role))


def scope_statement(user_id: UUID, role: str) -> Statement[ScopeWithGenerations]:
    """`scope_with_generations` as one statement, to send beside others."""

    def read(rows: Sequence[DictRow]) -> ScopeWithGenerations:
        (row,) = rows  # one row, always
        scope = scope_of(user_id, role, row["links"])
        return scope, Generations.of({k: int(v) for k, v in row["generations"].items()}, scope)

    # The user's id and key are parameters: the text is one per role, prepared once for all users.
    query = _SCOPE.format(links=links_of(role) or _NO_LINKS, owner=Literal(OWNER_KEY))
    return Statement(query, {"user_id": user_id, "own_key": OWNER_KEY + str(user_id)}, read)
