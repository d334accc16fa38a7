"""RRF on hand-built rankings, the SQL fusion against the reference, and filtered ANN recall."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from service.access.scope import AccessScope
from service.core.config import SearchSettings
from service.search.fusion import rrf
from service.search.hybrid import SearchParams, hybrid_search, vector_only
from service.search.plan import VectorPlan, choose_plan
from tests.retrieval.rrf import fuse
from tests.retrieval.seed import MODEL, vec_literal

DEFAULT_EF_SEARCH = SearchSettings.model_fields["ef_search"].default


def test_rrf_hand_computed() -> None:
    # a: 1/61 + 1/63 = 0.032266; b: 1/62 + 1/61 = 0.032522; c: 1/63 + 1/62 = 0.032002; d: 1/64
    fused = fuse([["a", "b", "c"], ["b", "a", "d"]], k=60)
    # b and a tie on 1/61 + 1/62; the tie breaks on best rank (both 1), then first appearance.
    assert [k for k, _ in fused] == ["a", "b", "c", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(1 / 63)
    assert fused[3][1] == pytest.approx(1 / 63)
    only_one = fuse([["x", "y"], []], k=60)
    assert only_one == [("x", pytest.approx(1 / 61)), ("y", pytest.approx(1 / 62))]
    assert [k for k, _ in fuse([["p", "q", "r"], ["r", "q", "p"], ["q"]])] == ["q", "p", "r"]


def test_service_fusion_hand_computed() -> None:
    fused = rrf([1, 2, 3], [2, 1, 4], k=60)
    assert [f.id for f in fused] == [1, 2, 3, 4]
    assert [(f.vector_rank, f.lexical_rank) for f in fused] == [
        (1, 2),
        (2, 1),
        (3, None),
        (None, 3),
    ]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2].score == fused[3].score == pytest.approx(1 / 63)
    assert [f.id for f in rrf([], [7, 8], k=1)] == [7, 8]
    assert rrf([], [], k=60) == []


def _unit(rng: np.random.Generator, n: int, dim: int = 384) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _insert(
    conn: psycopg.Connection, owner: str | None, public: bool, rows: list[tuple[str, np.ndarray]]
) -> None:
    doc = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO knowledge_documents (id, owner_id, title, source_type, is_public, status) "
        "VALUES (%s, %s, 't', 'text', %s, 'completed')",
        (doc, owner, public),
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY document_chunks (document_id, chunk_index, content, token_count, char_start, "
            "char_end, owner_id, is_public, embedding_model, embedding) FROM STDIN"
        ) as copy,
    ):
        for i, (text, v) in enumerate(rows):
            copy.write_row((doc, i, text, 1, 0, 1, owner, public, MODEL, vec_literal(v.tolist())))


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    """A connection as the API's pool makes them: autocommit, rows as dicts."""
    return await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)


def test_fusion_matches_reference_rrf(clean_db: str) -> None:
    rng = np.random.default_rng(7)
    vecs = _unit(rng, 30)
    words = ["alpha", "beta", "gamma", "delta", "epsilon"]
    texts = [" ".join(words[j] for j in range(5) if (i >> j) & 1) or "omega" for i in range(30)]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        _insert(conn, None, True, list(zip(texts, vecs, strict=True)))

    async def run() -> list[Any]:
        params = SearchParams(MODEL, 384, vector_candidates=10, fts_candidates=10)
        plan = VectorPlan("exact", 40)
        async with await _connect(clean_db) as conn:
            result = await hybrid_search(
                conn,
                params=params,
                scope=AccessScope(True),
                plan=plan,
                query_text="gamma delta",
                query_vector=vecs[3].tolist(),
                limit=40,
            )
        return result.hits

    hits = asyncio.run(run())
    vector_ranking = sorted((h for h in hits if h.vector_rank), key=lambda h: h.vector_rank or 0)
    fts_ranking = sorted((h for h in hits if h.fts_rank), key=lambda h: h.fts_rank or 0)
    assert vector_ranking[0].chunk_id == 4  # the query vector is chunk 4's own
    for h in hits:
        expected = (1 / (60 + h.vector_rank) if h.vector_rank else 0) + (
            1 / (60 + h.fts_rank) if h.fts_rank else 0
        )
        assert h.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # limit 40 > both candidate lists, so every candidate comes back and the rankings are whole.
    assert [h.vector_rank for h in vector_ranking] == list(range(1, 11))
    reference = fuse([[h.chunk_id for h in vector_ranking], [h.chunk_id for h in fts_ranking]])
    assert [round(s, 9) for _, s in reference] == [round(h.score, 9) for h in hits]
    assert {k for k, _ in reference} == {h.chunk_id for h in hits}
    assert any(h.vector_rank and h.fts_rank for h in hits)
    assert any(h.fts_rank and not h.vector_rank for h in hits) or len(fts_ranking) < 10


@pytest.mark.parametrize("kind", ["exact", "hnsw", "iterative"])
def test_legs_on_two_connections_find_what_they_find_on_one(clean_db: str, kind: str) -> None:
    """With a spare connection the legs run at once, one on each; the fused result is the same."""
    rng = np.random.default_rng(11)
    vecs = _unit(rng, 60)
    words = ["legato", "staccato", "pedal", "scale", "rubato", "octave"]
    texts = [f"{words[i % 6]} {words[(i * 7) % 6]} study {i}" for i in range(60)]
    with psycopg.connect(clean_db, autocommit=True) as conn:
        _insert(conn, None, True, list(zip(texts, vecs, strict=True)))
    plan = VectorPlan(kind, 40, 60, 60)  # type: ignore[arg-type]
    params = SearchParams(MODEL, 384, vector_candidates=10, fts_candidates=10)

    async def search(two: bool) -> tuple[list[tuple[int, float]], list[int], list[int]]:
        async with await _connect(clean_db) as conn, await _connect(clean_db) as spare:
            result = await hybrid_search(
                conn,
                params=params,
                scope=AccessScope(True),
                plan=plan,
                query_text="rubato pedal",
                query_vector=vecs[5].tolist(),
                limit=15,
                spare=spare if two else None,
            )
            # Both connections are idle again: nothing was left running on either.
            assert conn.info.transaction_status == spare.info.transaction_status == 0
        assert result.vector_ms > 0 and result.lexical_ms > 0
        assert result.legs_at_once is two
        return [(h.chunk_id, h.score) for h in result.hits], result.vector_ids, result.lexical_ids

    one, two = asyncio.run(search(False)), asyncio.run(search(True))
    assert two == one
    assert one[1][0] == 6 and one[2]  # chunk 6 holds vecs[5]; some chunks match the words


def test_a_failing_leg_raises_its_own_error_and_stops_the_other(clean_db: str) -> None:
    """The error mapping sees a leg's error as it would on one connection, not a group of them."""
    with psycopg.connect(clean_db, autocommit=True) as conn:
        _insert(conn, None, True, [("pedal", _unit(np.random.default_rng(1), 1)[0])])

    async def search() -> None:
        async with await _connect(clean_db) as conn, await _connect(clean_db) as spare:
            await spare.execute("SET statement_timeout = 1")  # the lexical leg's 3,000 terms
            try:
                await hybrid_search(
                    conn,
                    params=SearchParams(MODEL, 384),
                    scope=AccessScope(True),
                    plan=VectorPlan("exact", 40),
                    query_text="pedal " + " ".join(f"w{i}" for i in range(3000)),
                    query_vector=_unit(np.random.default_rng(2), 1)[0].tolist(),
                    limit=5,
                    spare=spare,
                )
            finally:
                # The vector leg's connection is usable afterwards, not stuck mid-query.
                cur = await conn.execute("SELECT 1 AS one")
                assert (await cur.fetchone()) == {"one": 1}

    with pytest.raises(psycopg.errors.QueryCanceled):
        asyncio.run(search())


def test_searches_are_planned_with_their_values_however_often_a_connection_runs_them(
    clean_db: str,
) -> None:
    """A pooled connection runs the same search SQL all day; it must never be prepared (after
    5 runs psycopg would, and PostgreSQL could then switch to one generic plan for any terms)."""
    rng = np.random.default_rng(5)
    vecs = _unit(rng, 20)
    with psycopg.connect(clean_db, autocommit=True) as conn:
        _insert(conn, None, True, [(f"rubato phrase {i}", v) for i, v in enumerate(vecs)])

    async def run() -> tuple[int, list[str]]:
        params = SearchParams(MODEL, 384, vector_candidates=10, fts_candidates=10)
        async with await _connect(clean_db) as conn:
            assert conn.prepare_threshold is not None  # psycopg's default: prepare after 5
            found = 0
            for i in range(12):
                result = await hybrid_search(
                    conn,
                    params=params,
                    scope=AccessScope(True),
                    plan=VectorPlan("hnsw", 40),
                    query_text="rubato",
                    query_vector=vecs[i].tolist(),
                    limit=5,
                )
                found += len(result.hits)
            cur = await conn.execute("SELECT statement FROM pg_prepared_statements")
            return found, [r["statement"] for r in await cur.fetchall()]

    found, prepared = asyncio.run(run())
    assert found == 12 * 5
    # Only the per-transaction setting is prepared (it has no plan to go wrong).
    assert [s for s in prepared if "document_chunks" in s] == [], prepared


@pytest.mark.parametrize("iterative", [False, True], ids=["pgvector-0.6-plans", "iterative-scans"])
def test_filtered_recall_matches_exact_search(clean_db: str, iterative: bool) -> None:
    """Small scale (6k chunks): every role's top 10 equals exact search within its scope, with
    the plans for pgvector < 0.8 (widened ef_search) and with iterative index scans."""
    rng = np.random.default_rng(11)
    centres = _unit(rng, 60)
    n = 6000
    labels = rng.integers(0, 60, size=n)
    data = centres[labels] + 0.35 * _unit(rng, n)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    # public 2 %, teacher A 1 %, teacher B 40 %, teacher C the rest (private).
    groups = {
        "public": (None, True, 0, 120),
        "a": (a, False, 120, 180),
        "b": (b, False, 180, 2580),
        "c": (c, False, 2580, n),
    }
    with psycopg.connect(clean_db, autocommit=True) as conn:
        for uid in (a, b, c):
            conn.execute(
                "INSERT INTO users (id, email, display_name, role) VALUES (%s, %s, 't', 'teacher')",
                (uid, f"{uid}@example.com"),
            )
        for owner, public, lo, hi in groups.values():
            _insert(conn, owner, public, [(f"chunk {i}", data[i]) for i in range(lo, hi)])
    owner_of = np.array(["public"] * 120 + ["a"] * 60 + ["b"] * 2400 + ["c"] * (n - 2580))
    scopes = {
        "admin": (AccessScope(True), np.ones(n, bool)),
        "teacher_a": (
            AccessScope(False, frozenset({uuid.UUID(a)})),
            np.isin(owner_of, ["public", "a"]),
        ),
        "teacher_b": (
            AccessScope(False, frozenset({uuid.UUID(b)})),
            np.isin(owner_of, ["public", "b"]),
        ),
        "student_of_a_and_b": (
            AccessScope(False, frozenset({uuid.UUID(a), uuid.UUID(b)})),
            np.isin(owner_of, ["public", "a", "b"]),
        ),
        "student_unlinked": (AccessScope(False), owner_of == "public"),
    }
    queries = data[rng.choice(n, 25, replace=False)] + 0.2 * _unit(rng, 25)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    params = SearchParams(MODEL, 384)

    async def recall(
        scope: AccessScope, mask: np.ndarray, plan: VectorPlan, force_index: bool = False
    ) -> float:
        ids = np.arange(1, n + 1)  # identity column order = insertion order
        found = 0
        async with await _connect(clean_db) as conn:
            if force_index:  # what an HNSW scan alone returns, whatever the planner prefers
                await conn.execute("SET enable_seqscan = off")
                await conn.execute("SET enable_bitmapscan = off")
            for q in queries:
                dist = 1 - data @ q
                dist[~mask] = np.inf
                exact = set(ids[np.argsort(dist)[:10]].tolist())
                got = await vector_only(
                    conn, params=params, scope=scope, plan=plan, query_vector=q.tolist(), k=10
                )
                found += len(exact & set(got))
        return found / (10 * len(queries))

    results = {}
    for role, (scope, mask) in scopes.items():
        plan = choose_plan(
            scope_rows=int(mask.sum()),
            total_rows=n,
            candidates=40,
            ef_search=DEFAULT_EF_SEARCH,  # the shipped default (ef 40 stays under 0.99 unfiltered)
            ef_search_max=1000,
            exact_fraction=0.05,
            exact_rows=0,
            iterative_available=iterative,
        )
        results[role] = (plan.kind, plan.ef_search, asyncio.run(recall(scope, mask, plan)))
    mid = "iterative" if iterative else "hnsw"
    assert {r: k for r, (k, _, _) in results.items()} == {
        "admin": "hnsw",
        "teacher_a": "exact",
        "teacher_b": mid,
        "student_of_a_and_b": mid,
        "student_unlinked": "exact",
    }
    for role, (_, _, r) in results.items():
        assert r >= 0.99, (role, results)
    # The naive plan (HNSW post-filter at the default ef_search) loses most of a narrow scope.
    scope, mask = scopes["teacher_a"]
    naive = asyncio.run(recall(scope, mask, VectorPlan("hnsw", 40), force_index=True))
    assert naive < 0.5, naive
