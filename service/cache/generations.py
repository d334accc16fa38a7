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

from service.access.scope import OWNER_KEY, AccessScope, scope_for, student_scope
from service.core.db import Conn, Statement, run
from service.repositories import relationships


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


# The student's teachers and every generation row their scope can name, from one snapshot.
_STUDENT = SQL("""
WITH teachers AS ({teachers})
SELECT coalesce((SELECT array_agg(teacher_id) FROM teachers), '{{}}') AS teachers,
       coalesce((SELECT jsonb_object_agg(scope_key, generation) FROM knowledge_generations
                  WHERE scope_key IN ('public', 'all')
                     OR scope_key IN (SELECT {owner} || teacher_id::text FROM teachers)),
                '{{}}') AS generations
""")


ScopeWithGenerations = tuple[AccessScope, Generations]


async def scope_with_generations(conn: Conn, user_id: UUID, role: str) -> ScopeWithGenerations:
    """`scope_for`, then `generations` of that scope: every question needs both. For a student
    (whose scope rests on their links) in one round trip."""
    statement = scope_statement(user_id, role)
    if statement is None:
        scope = await scope_for(conn, user_id, role)
        return scope, await generations(conn, scope)
    return await run(conn, statement)


def scope_statement(user_id: UUID, role: str) -> Statement[ScopeWithGenerations] | None:
    """`scope_with_generations` as one statement, to send beside others, where the scope takes
    only one (a student's); None otherwise."""
    if role != "student":
        return None

    def read(rows: Sequence[DictRow]) -> ScopeWithGenerations:
        (row,) = rows  # one row, always
        scope = student_scope(user_id, row["teachers"])
        return scope, Generations.of({k: int(v) for k, v in row["generations"].items()}, scope)

    query = _STUDENT.format(
        teachers=relationships.teachers_of_student(user_id), owner=Literal(OWNER_KEY)
    )
    return Statement(query, None, read)
