"""The access rule as a behaviour table: every caller against every row, with real links in
PostgreSQL.

Every answer is checked three ways that must agree: the Python row check, the SQL fragment run
against the same rows, and (for knowledge) the cache fingerprint shared by equal scopes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.sql import SQL

from service.access import AccessScope, scope_for
from service.access.links import (
    can_answer_request,
    can_cancel_request,
    can_remove_link,
    can_see_link,
    can_see_request,
    may_request_links,
    status_seen_by,
    teacher_to_link,
)
from service.auth.user import User
from service.cache.generations import Generations, generations, scope_with_generations
from service.core.exceptions import Forbidden
from service.repositories.relationships import LinkRequestRow, LinkRow

# caller: (role passed to scope_for, user row's role); "parent" is a role the rule doesn't know.
CALLERS = {
    "admin": "admin",
    "teacher_a": "teacher",
    "teacher_b": "teacher",
    "linked": "student",  # linked to teacher_a
    "lonely": "student",
    "stranger": "parent",
}

# document: (owner, is_public). "a_pending" asked to be public and waits for an admin: until
# approved it is private to its owner (publication = pending_review, is_public = false).
DOCUMENTS = {
    "platform_public": (None, True),
    "platform_private": (None, False),
    "a_public": ("teacher_a", True),
    "a_private": ("teacher_a", False),
    "a_pending": ("teacher_a", False),
    "b_private": ("teacher_b", False),
    "stranger_private": ("stranger", False),  # an unknown role reads nothing private, even own
}

ALL_DOCS = set(DOCUMENTS)
PUBLIC = {"platform_public", "a_public"}
READS_KNOWLEDGE = {
    "admin": ALL_DOCS,
    "teacher_a": PUBLIC | {"a_private", "a_pending"},
    "teacher_b": PUBLIC | {"b_private"},
    "linked": PUBLIC | {"a_private", "a_pending"},
    "lonely": PUBLIC,
    "stranger": PUBLIC,
}
CHANGES_KNOWLEDGE = {
    "admin": ALL_DOCS,
    "teacher_a": {"a_public", "a_private", "a_pending"},
    "teacher_b": {"b_private"},
    "linked": set(),
    "lonely": set(),
    "stranger": set(),
}

# Users' own data (recordings, practice context), by owning user.
PEOPLE = {"admin", "teacher_a", "teacher_b", "linked", "lonely"}
READS_USER_DATA = {
    "admin": PEOPLE,
    "teacher_a": {"teacher_a", "linked"},
    "teacher_b": {"teacher_b"},
    "linked": {"linked"},
    "lonely": {"lonely"},
    "stranger": set(),
}
CHANGES_USER_DATA = {
    "admin": PEOPLE,
    "teacher_a": {"teacher_a"},  # reads the linked student's data, never changes it
    "teacher_b": {"teacher_b"},
    "linked": {"linked"},
    "lonely": {"lonely"},
    "stranger": set(),
}


def _plant(url: str) -> tuple[dict[str, UUID], dict[str, UUID]]:
    with psycopg.connect(url, autocommit=True) as conn:
        people = {}
        for name, role in CALLERS.items():
            db_role = "student" if role == "parent" else role
            row = conn.execute(
                "INSERT INTO users (email, display_name, role) VALUES (%s, %s, %s) RETURNING id",
                (f"{name}@example.com", name, db_role),
            ).fetchone()
            assert row is not None
            people[name] = row[0]
        conn.execute(
            "INSERT INTO teacher_student_links (teacher_id, student_id) VALUES (%s, %s)",
            (people["teacher_a"], people["linked"]),
        )
        docs = {}
        for title, (owner, public) in DOCUMENTS.items():
            publication = "pending_review" if title == "a_pending" else "private"
            row = conn.execute(
                "INSERT INTO knowledge_documents (owner_id, title, source_type, is_public, "
                "publication) VALUES (%s, %s, 'text', %s, %s) RETURNING id",
                (people[owner] if owner else None, title, public, publication),
            ).fetchone()
            assert row is not None
            docs[title] = row[0]
    return people, docs


@pytest.fixture
def world(clean_db: str) -> Iterator[dict[str, Any]]:
    people, docs = _plant(clean_db)

    async def build() -> dict[str, AccessScope]:
        async with await psycopg.AsyncConnection.connect(
            clean_db, row_factory=dict_row, autocommit=True
        ) as conn:
            return {n: await scope_for(conn, people[n], role) for n, role in CALLERS.items()}

    yield {"url": clean_db, "people": people, "docs": docs, "scopes": asyncio.run(build())}


def _select(url: str, query: SQL, fragment: Any) -> set[UUID]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(query.format(fragment)).fetchall()}


@pytest.mark.parametrize("caller", CALLERS)
def test_knowledge_reads(world: dict[str, Any], caller: str) -> None:
    scope, docs = world["scopes"][caller], world["docs"]
    expected = READS_KNOWLEDGE[caller]
    assert {d for d, (o, public) in DOCUMENTS.items() if scope.allows(_id(world, o), public)} == (
        expected
    )
    for query, fragment in [
        (SQL("SELECT id FROM knowledge_documents WHERE {}"), scope.sql()),
        (SQL("SELECT d.id FROM knowledge_documents d WHERE {}"), scope.sql("d")),
    ]:
        assert _select(world["url"], query, fragment) == {docs[d] for d in expected}


@pytest.mark.parametrize("caller", CALLERS)
def test_knowledge_changes(world: dict[str, Any], caller: str) -> None:
    scope = world["scopes"][caller]
    changes = {d for d, (owner, _) in DOCUMENTS.items() if scope.can_change(_id(world, owner))}
    assert changes == CHANGES_KNOWLEDGE[caller]
    assert changes <= READS_KNOWLEDGE[caller]


@pytest.mark.parametrize("caller", CALLERS)
def test_user_data(world: dict[str, Any], caller: str) -> None:
    scope, people = world["scopes"][caller], world["people"]
    assert {p for p in PEOPLE if scope.can_read_user_data(people[p])} == READS_USER_DATA[caller]
    assert {p for p in PEOPLE if scope.can_change(people[p])} == CHANGES_USER_DATA[caller]
    query = SQL("SELECT u.id FROM users u WHERE u.email <> 'stranger@example.com' AND {}")
    assert _select(world["url"], query, scope.user_data_sql("id", "u")) == {
        people[p] for p in READS_USER_DATA[caller]
    }


def test_equal_knowledge_shares_a_fingerprint(world: dict[str, Any]) -> None:
    """Cache entries are shared exactly between callers who read the same documents."""
    scopes = world["scopes"]
    for a in CALLERS:
        for b in CALLERS:
            same = READS_KNOWLEDGE[a] == READS_KNOWLEDGE[b]
            assert (scopes[a].fingerprint == scopes[b].fingerprint) == same, (a, b)
    assert scopes["lonely"].generation_keys == ["public"]
    assert scopes["admin"].generation_keys == ["all"]
    assert scopes["linked"].generation_keys == scopes["teacher_a"].generation_keys


def _id(world: dict[str, Any], person: str | None) -> UUID | None:
    return world["people"][person] if person else None


# The link between teacher_a and their student: who sees it, who removes it, who links whom.
SEES_LINK = {"admin", "teacher_a", "linked"}
REMOVES_LINK = {"admin", "teacher_a", "linked"}  # either side ends it
LINKS_STUDENTS_TO_TEACHER_A = {"admin"}  # directly; a teacher asks and the student accepts


@pytest.mark.parametrize("caller", CALLERS)
def test_links(world: dict[str, Any], caller: str) -> None:
    people = world["people"]
    user = User(people[caller], f"{caller}@example.com", caller, cast(Any, CALLERS[caller]))
    link = LinkRow(
        UUID(int=1),
        datetime.now(UTC),
        people["teacher_a"],
        "teacher_a@example.com",
        "teacher_a",
        people["linked"],
        "linked@example.com",
        "linked",
    )
    assert can_see_link(user, link) == (caller in SEES_LINK)
    assert can_remove_link(user, link) == (caller in REMOVES_LINK)
    assert can_remove_link(user, link) <= can_see_link(user, link)
    try:
        linked_to = teacher_to_link(user, people["teacher_a"])
    except Forbidden:
        linked_to = None
    assert (linked_to == people["teacher_a"]) == (caller in LINKS_STUDENTS_TO_TEACHER_A)


# teacher_a's request to the address "lonely@example.com", per status: who sees it, who may
# answer it, who may cancel it, and the status each caller is told.
REQUEST_RULES = {
    # status: (sees, answers, cancels)
    "pending": ({"admin", "teacher_a", "lonely"}, {"lonely"}, {"admin", "teacher_a"}),
    "declined": ({"admin", "teacher_a", "lonely"}, set(), {"admin", "teacher_a"}),
    "accepted": ({"admin", "teacher_a", "lonely"}, set(), set()),
    "cancelled": ({"admin", "teacher_a"}, set(), set()),
}
TOLD_DECLINED = {"admin", "lonely"}  # everyone else is told "pending"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("status", REQUEST_RULES)
def test_link_requests(world: dict[str, Any], caller: str, status: str) -> None:
    people = world["people"]
    user = User(people[caller], f"{caller}@example.com", caller, cast(Any, CALLERS[caller]))
    request = LinkRequestRow(
        UUID(int=2),
        people["teacher_a"],
        "teacher_a@example.com",
        "teacher_a",
        "LONELY@example.com",
        status,
        datetime.now(UTC),
        None,
        None,
    )
    sees, answers, cancels = REQUEST_RULES[status]
    assert can_see_request(user, request) == (caller in sees)
    assert can_answer_request(user, request) == (caller in answers)
    assert can_cancel_request(user, request) == (caller in cancels)
    told = status_seen_by(user, request)
    if status == "declined":
        assert told == ("declined" if caller in TOLD_DECLINED else "pending")
    else:
        assert told == status
    try:
        may_request_links(user)
        asks = True
    except Forbidden:
        asks = False
    assert asks == (CALLERS[caller] == "teacher")


def test_the_question_path_reads_the_same_scope_and_generations_in_one_go(
    world: dict[str, Any],
) -> None:
    """`scope_with_generations` (one statement) agrees with `scope_for` and `generations` for
    every caller, before and after a linked teacher's document changes, and
    for a student with two teachers."""
    people = world["people"]

    Read = tuple[AccessScope, Generations]

    async def both_ways() -> dict[str, tuple[Read, Read]]:
        async with await psycopg.AsyncConnection.connect(
            world["url"], row_factory=dict_row, autocommit=True
        ) as conn:
            out: dict[str, tuple[Read, Read]] = {}
            for name, role in CALLERS.items():
                scope = await scope_for(conn, people[name], role)
                apart = (scope, await generations(conn, scope))
                out[name] = (apart, await scope_with_generations(conn, people[name], role))
            return out

    before = asyncio.run(both_ways())
    for name, (apart, together) in before.items():
        assert together == apart, name
    assert before["linked"][1][0].owner_ids == {people["teacher_a"]}

    with psycopg.connect(world["url"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO knowledge_documents (owner_id, title, source_type) "
            "VALUES (%s, 'new', 'text')",
            (people["teacher_a"],),
        )
        conn.execute(
            "INSERT INTO teacher_student_links (teacher_id, student_id) VALUES (%s, %s)",
            (people["teacher_b"], people["linked"]),
        )
    after = asyncio.run(both_ways())
    for name, (apart, together) in after.items():
        assert together == apart, name
    gens = {name: pair[1][1].scope for name, pair in after.items()}
    moved = {name for name in gens if gens[name] != before[name][1][1].scope}
    assert moved == {"admin", "teacher_a", "linked"}
    assert after["linked"][1][0].owner_ids == {people["teacher_a"], people["teacher_b"]}


def test_every_user_of_a_role_shares_one_prepared_scope_statement(world: dict[str, Any]) -> None:
    """The user's id is a parameter of the scope's statement, not part of its text: PostgreSQL
    prepares one statement per role however many users ask, and each user still reads their own
    scope through it."""
    people = world["people"]

    async def read() -> tuple[dict[str, AccessScope], int]:
        async with await psycopg.AsyncConnection.connect(
            world["url"], row_factory=dict_row, autocommit=True, prepare_threshold=0
        ) as conn:
            scopes = {
                name: (await scope_with_generations(conn, people[name], role))[0]
                for name, role in CALLERS.items()
            }
            cur = await conn.execute(
                "SELECT count(*) AS n FROM pg_prepared_statements "
                "WHERE statement LIKE '%%WITH links(id)%%'",
                prepare=False,
            )
            row = await cur.fetchone()
            assert row is not None
            return scopes, int(row["n"])

    scopes, prepared = asyncio.run(read())
    # teacher_a and teacher_b share the teachers' statement, linked and lonely the students',
    # admin and stranger the one that reads no links.
    assert prepared == 3
    assert scopes == world["scopes"]
