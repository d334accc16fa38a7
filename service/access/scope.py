"""What a caller may read: one scope type, built from the role and the teacher-student links.

Ask the scope, never the role: a feature that checks `role == "teacher"` itself grows a second
rule that drifts from this one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from psycopg.sql import SQL, Composable, Identifier, Literal

from service.core.db import Conn
from service.repositories import relationships

OWNER_KEY = "owner:"  # + owner id: a knowledge_generations key (see 0005_chat.sql)


def _owner_set(ids: frozenset[UUID]) -> Composable:
    # Inlined as a literal: ids come from our own tables, never from the request, and the
    # fragment then composes into any statement (and the planner sees the real ids).
    return SQL("{}::uuid[]").format(Literal("{" + ",".join(sorted(map(str, ids))) + "}"))


def _column(table: str | None, name: str) -> Composable:
    return Identifier(table, name) if table else Identifier(name)


@dataclass(frozen=True)
class AccessScope:
    """One caller's reach.

    Knowledge: admins (`everything`) read every document; everyone else reads public documents
    plus the documents of `owner_ids` (a teacher's own, a student's linked teachers').

    Users' own data (recordings, practice context): a student reads and changes their own; a
    linked teacher reads, but doesn't change, their `student_ids`' data; admins read and change
    everything. Whoever owns a row changes it (`can_change`); ownerless rows are the admins'.
    """

    everything: bool
    owner_ids: frozenset[UUID] = frozenset()
    user_id: UUID | None = None
    student_ids: frozenset[UUID] = frozenset()

    # ---- knowledge documents and their chunks ------------------------------------------------

    def allows(self, owner_id: UUID | None, is_public: bool) -> bool:
        return self.everything or is_public or (owner_id is not None and owner_id in self.owner_ids)

    def sql(self, table: str | None = None) -> Composable:
        """`allows` as a WHERE fragment over the `owner_id`/`is_public` columns of `table`."""
        if self.everything:
            return SQL("TRUE")
        public = _column(table, "is_public")
        if not self.owner_ids:
            return public
        return SQL("({} OR {} = ANY({}))").format(
            public, _column(table, "owner_id"), _owner_set(self.owner_ids)
        )

    @property
    def generation_keys(self) -> list[str]:
        """Rows of knowledge_generations whose sum versions this scope (see 0005_chat.sql)."""
        if self.everything:
            return ["all"]
        return ["public", *(OWNER_KEY + str(o) for o in sorted(self.owner_ids, key=str))]

    @property
    def fingerprint(self) -> str:
        """Names the knowledge this scope reads, in cache keys: callers who read the same
        documents share entries. Caches of users' data key on the owner id instead."""
        text = "all" if self.everything else "public+" + ",".join(sorted(map(str, self.owner_ids)))
        return hashlib.sha256(text.encode()).hexdigest()

    # ---- ownership and users' own data -------------------------------------------------------

    def can_change(self, owner_id: UUID | None) -> bool:
        return self.everything or (owner_id is not None and owner_id == self.user_id)

    def can_read_user_data(self, owner_id: UUID) -> bool:
        return self.everything or owner_id == self.user_id or owner_id in self.student_ids

    def user_data_sql(self, column: str = "user_id", table: str | None = None) -> Composable:
        """`can_read_user_data` as a WHERE fragment over the owning user's id column."""
        if self.everything:
            return SQL("TRUE")
        readable = self.student_ids | ({self.user_id} if self.user_id else frozenset())
        if not readable:
            return SQL("FALSE")
        return SQL("{} = ANY({})").format(_column(table, column), _owner_set(readable))


async def scope_for(conn: Conn, user_id: UUID, role: str) -> AccessScope:
    """The caller's scope, reading the links it rests on (`scope_of` says how)."""
    query = links_of(role)
    if query is None:
        return scope_of(user_id, role, ())
    cur = await conn.execute(query, {"user_id": user_id})
    return scope_of(user_id, role, (next(iter(r.values())) for r in await cur.fetchall()))


def links_of(role: str) -> SQL | None:
    """The links a role's scope rests on, as a query of one id column to run or to nest in a
    statement that reads more in the same round trip, with the user's id as its %(user_id)s
    parameter; None when the scope needs none."""
    if role == "teacher":
        return relationships.STUDENTS_OF_TEACHER
    if role == "student":
        return relationships.TEACHERS_OF_STUDENT
    return None


def scope_of(user_id: UUID, role: str, linked: Iterable[UUID]) -> AccessScope:
    """Admin: everything. Teacher: public + own knowledge; own and linked students' data.
    Student: public + linked teachers' knowledge; own data. Any other role: public knowledge.
    `linked` is what `links_of` read: a teacher's students, a student's teachers."""
    if role == "admin":
        return AccessScope(everything=True, user_id=user_id)
    if role == "teacher":
        return AccessScope(False, frozenset({user_id}), user_id, frozenset(linked))
    if role == "student":
        return AccessScope(False, frozenset(linked), user_id)
    return AccessScope(everything=False)
