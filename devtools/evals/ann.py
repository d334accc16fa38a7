"""Retrieval at 100k chunks, per role scope: the vector leg's plans against exact search, the
lexical leg against exhaustive BM25, hybrid latency; the ef_search sweep; halfvec.

Chunks: synthetic, derived from the real chunks of the eval corpus. A vector is a real chunk's
vector perturbed within the real data's principal subspace and renormalised (`synthesise`); its
text is that chunk's sentences, shuffled, plus a few sentences of other chunks, so term
frequencies, document frequencies and lengths are those of real prose (`synthetic_texts`).
Owners: drawn per synthetic document of consecutive chunks (`document_labels`), so a scope's
rows lie in runs on disk as ingestion writes them.
Queries: real questions (Hofmann's) and their real embeddings. Exact vector top 10: NumPy brute
force over the caller's scope. Exact lexical top 10: BM25 over every matching chunk.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import numpy as np
import psycopg

from devtools.evals import peer
from devtools.evals.metrics import percentile
from devtools.evals.querysets import SHIPPED, load
from devtools.evals.querysets import role as set_role
from devtools.evals.retrieval_eval import engine_for, open_pool
from devtools.postgres import create_scratch_database
from service.access.scope import AccessScope
from service.cache.generations import generations
from service.core.config import Settings
from service.core.db import idle_connection
from service.embeddings.base import Embedder
from service.search.fusion import rrf
from service.search.hybrid import SearchParams, hybrid_search, vector_literal, vector_only
from service.search.lexical import exhaustive_candidates, lexical_leg, postings_for
from service.search.plan import VectorPlan

SWEEP = (40, 100, 160, 200, 300, 400)
HELD_OUT = tuple(f for f in SHIPPED if set_role(f.stem).startswith("held out"))
# Chunks per synthetic document: ingestion writes a document's chunks together, so an owner's
# chunks lie in runs on disk as they do in a real table, not one row here and one there.
DOCUMENT_CHUNKS = (20, 200)
# Share of rows per owner group; "public" rows are is_public.
GROUPS = {"public": 0.02, "a": 0.005, "b": 0.10, "c": 0.40, "d": 0.475}
ROLES = {
    "admin": (None, ["public", "a", "b", "c", "d"]),
    "teacher_a (0.5 % own)": (["a"], ["public", "a"]),
    "teacher_b (10 % own)": (["b"], ["public", "b"]),
    "teacher_c (40 % own)": (["c"], ["public", "c"]),
    "student of a+b": (["a", "b"], ["public", "a", "b"]),
    "student, no teacher": ([], ["public"]),
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _log(msg: str) -> None:
    print(f"  [scale] {msg}", flush=True)


def role_scope(own: list[str] | None, owners: Mapping[str, uuid.UUID]) -> AccessScope:
    """A role's access scope: everything (None), or public chunks plus its groups' owners."""
    if own is None:
        return AccessScope(True)
    return AccessScope(False, frozenset(owners[g] for g in own))


def real_chunks(corpus_url: str) -> tuple[np.ndarray, list[str]]:
    with psycopg.connect(corpus_url) as conn:
        rows = conn.execute("SELECT embedding::text, content FROM document_chunks").fetchall()
    return np.array([json.loads(r[0]) for r in rows], dtype=np.float32), [r[1] for r in rows]


def synthesise(
    real: np.ndarray, rows: int, seed: int = 42, rank: int = 48, noise_norm: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Each point is a real vector plus Gaussian noise drawn in the real data's top `rank`
    principal directions (scaled by their spread, norm `noise_norm`), renormalised. Returns the
    points and the index of the real vector each one came from.

    Noise in the principal subspace keeps points on the embedding manifold. Isotropic noise
    (tried first) instead builds tight clumps of near-duplicates around each real vector, where
    the exact top 10 are near-ties no real corpus has; HNSW recall there was 0.6-0.8.
    """
    rng = np.random.default_rng(seed)
    centred = real - real.mean(axis=0)
    _, spread, directions = np.linalg.svd(centred, full_matrices=False)
    rank = min(rank, len(spread))
    base = rng.integers(0, len(real), rows)
    coef = rng.normal(size=(rows, rank)) * (spread[:rank] / spread[:rank].mean())
    noise = (coef @ directions[:rank]).astype(np.float32)
    noise *= noise_norm / np.linalg.norm(noise, axis=1, keepdims=True)
    data = real[base] + noise
    return data / np.linalg.norm(data, axis=1, keepdims=True), base


def synthetic_texts(texts: list[str], base: np.ndarray, seed: int = 7) -> list[str]:
    """The base chunk's sentences, shuffled, plus 1-3 sentences of other chunks."""
    rng = random.Random(seed)
    sentences = [[s for s in _SENTENCE.split(t) if s.strip()] or [t] for t in texts]
    everything = [s for ss in sentences for s in ss]
    out = []
    for b in base.tolist():
        own = list(sentences[b])
        rng.shuffle(own)
        own += rng.sample(everything, rng.randint(1, 3))
        out.append(" ".join(own))
    return out


def document_labels(rows: int, seed: int = 7) -> np.ndarray:
    """The owner group of each row, drawn per synthetic document (a run of DOCUMENT_CHUNKS rows),
    each group in proportion to what is left of its share, so the shares hold at any size."""
    rng = np.random.default_rng(seed)
    left = np.array(list(GROUPS.values())) * rows
    labels = np.empty(rows, dtype=np.int64)
    at = 0
    while at < rows:
        size = min(int(rng.integers(*DOCUMENT_CHUNKS, endpoint=True)), rows - at)
        weights = np.clip(left, 0, None) + 1e-9
        group = int(rng.choice(len(GROUPS), p=weights / weights.sum()))
        labels[at : at + size] = group
        left[group] -= size
        at += size
    return labels


def _load(
    url: str, data: np.ndarray, texts: list[str], labels: np.ndarray, model: str
) -> dict[str, Any]:
    owners = {g: uuid.uuid4() for g in GROUPS if g != "public"}
    docs = {g: uuid.uuid4() for g in GROUPS}
    dim = data.shape[1]
    timings: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for g, uid in owners.items():
            conn.execute(
                "INSERT INTO users (id, email, display_name, role) VALUES (%s, %s, %s, 'teacher')",
                (uid, f"eval-{g}@example.com", f"eval {g}"),
            )
        for g, doc in docs.items():
            conn.execute(
                "INSERT INTO knowledge_documents (id, owner_id, title, source_type, is_public, "
                "status) VALUES (%s, %s, %s, 'text', %s, 'completed')",
                (doc, owners.get(g), f"synthetic {g}", g == "public"),
            )
        index = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'document_chunks' "
            "AND indexdef ILIKE %s",
            (f"%vector({dim})%",),
        ).fetchall()
        for name, _ in index:
            conn.execute(f'DROP INDEX "{name}"')
        t0 = time.perf_counter()
        names = list(GROUPS)
        step = 10_000
        for start in range(0, len(data), step):
            # One COPY per batch: each commits its chunks and their term statistics.
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY document_chunks (document_id, chunk_index, content, token_count, "
                    "char_start, char_end, owner_id, is_public, embedding_model, embedding) "
                    "FROM STDIN"
                ) as copy,
            ):
                for i in range(start, min(start + step, len(data))):
                    g = names[labels[i]]
                    text = texts[i]
                    copy.write_row(
                        (docs[g], i, text, len(text) // 4, 0, len(text), owners.get(g),
                         g == "public", model, vector_literal(data[i].tolist()))
                    )  # fmt: skip
            _log(f"copied {min(start + step, len(data)):,} rows ({time.perf_counter() - t0:.0f} s)")
        timings["copy_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        for _, definition in index:
            _log("building HNSW index")
            conn.execute(definition)
        timings["index_seconds"] = time.perf_counter() - t0
        conn.execute("VACUUM ANALYZE document_chunks")
        first = conn.execute("SELECT min(id) FROM document_chunks").fetchone()
        timings["first_id"] = int(first[0]) if first else 1
        # One partial HNSW index per model of this size: the one whose predicate names this model.
        ours = [name for name, definition in index if f"'{model}'::text" in definition]
        size = conn.execute(
            "SELECT pg_total_relation_size('document_chunks'), pg_relation_size(%s::regclass)",
            (ours[0] if ours else "document_chunks_pkey",),
        ).fetchone()
        assert size is not None
        timings["table_bytes"], timings["hnsw_bytes"] = int(size[0]), int(size[1])
    return {"owners": owners, **timings}


async def _timed(
    fn: Callable[[int], Awaitable[list[int]]], n: int
) -> tuple[list[list[int]], list[float]]:
    out, lat = [], []
    for i in range(n):
        t0 = time.perf_counter()
        out.append(await fn(i))
        lat.append((time.perf_counter() - t0) * 1000)
    return out, lat


def _recall(got: list[list[int]], truth: list[list[int]], k: int = 10) -> float:
    found = sum(len(set(g[:k]) & set(t[:k])) for g, t in zip(got, truth, strict=True))
    return found / max(1, sum(min(k, len(t)) for t in truth))


def _summary(lat: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}


async def ann_study(
    settings: Settings,
    embedder: Embedder,
    corpus_url: str,
    server_url: str,
    rows: int,
    n_queries: int,
) -> dict[str, Any]:
    real, real_texts = real_chunks(corpus_url)
    _log(f"{len(real):,} real chunks -> {rows:,} synthetic")
    data, base = synthesise(real, rows)
    texts = synthetic_texts(real_texts, base)
    labels = document_labels(rows)
    url = create_scratch_database(server_url, "eval_ann")
    loaded = _load(url, data, texts, labels, embedder.model)
    _log(f"copy {loaded['copy_seconds']:.0f} s, index {loaded['index_seconds']:.0f} s")
    questions = [q.query for q in load(SHIPPED[0])][:n_queries]
    queries = np.array(await embedder.embed(questions), dtype=np.float32)
    # Hofmann's questions are worded as the book is, which flatters the lexical leg's budget
    # (rare terms it can read cheaply); the held-out questions are worded as students ask.
    held_out = [q.query for f in HELD_OUT for q in load(f)]  # every one: 182
    held_out_vectors = np.array(await embedder.embed(held_out), dtype=np.float32)
    ids = np.arange(rows) + loaded["first_id"]
    names = list(GROUPS)
    owners: dict[str, uuid.UUID] = loaded["owners"]
    n = len(questions)

    pool = await open_pool(url, max_size=2, min_size=2)
    try:
        engine = engine_for(settings, pool, embedder)
        params = engine.params

        def exact_top(mask: np.ndarray) -> list[list[int]]:
            out = []
            for q in queries:
                sims = data @ q
                sims[~mask] = -np.inf
                top = np.argsort(-sims)[:10]
                out.append([int(ids[i]) for i in top if np.isfinite(sims[i])])
            return out

        async def vector_run(
            scope: AccessScope, plan: VectorPlan
        ) -> tuple[list[list[int]], list[float]]:
            async with pool.connection() as conn:

                async def one(i: int) -> list[int]:
                    return await vector_only(
                        conn, params=params, scope=scope, plan=plan,
                        query_vector=queries[i].tolist(), k=10,
                    )  # fmt: skip

                return await _timed(one, n)

        async def lexical_run(
            scope: AccessScope, plan: VectorPlan, exhaustive: bool, texts: list[str] = questions
        ) -> tuple[list[list[int]], list[float]]:
            budget = params.lexical_budget
            args = {
                "budget": budget,
                "postings": postings_for(budget, plan.scope_rows, rows),
                "fk": 10,
            }
            query = (
                exhaustive_candidates(params.model, scope)
                if exhaustive
                else lexical_leg(params.model, scope, plan)
            )
            async with pool.connection() as conn:

                async def one(i: int) -> list[int]:
                    cur = await conn.execute(query, {**args, "qt": texts[i]}, prepare=False)
                    return [r["id"] for r in await cur.fetchall()]

                return await _timed(one, len(texts))

        async def hybrid_run(
            scope: AccessScope, plan: VectorPlan, texts: list[str], vectors: np.ndarray
        ) -> dict[str, float]:
            """Recall@10 against the same fusion of both exact legs, and latency; and the recall
            had either leg been exact (which leg the misses come from)."""
            lat, got, legs = [], [], []
            async with pool.connection() as conn:
                for warm in (True, False):
                    for text, q in zip(texts, vectors, strict=True):
                        t0 = time.perf_counter()
                        # As the API runs a process's only cold question: both legs at once.
                        async with idle_connection(pool) as spare:
                            result = await hybrid_search(
                                conn, params=params, scope=scope, plan=plan,
                                query_text=text, query_vector=q.tolist(), limit=10, spare=spare,
                            )  # fmt: skip
                        if not warm:
                            lat.append((time.perf_counter() - t0) * 1000)
                            got.append([h.chunk_id for h in result.hits])
                            legs.append((result.vector_ids, result.lexical_ids))
            # Exhaustive hybrid: exact vector top 40 and exhaustive BM25 top 40, fused alike.
            exact40 = await _exact_vector(pool, params, scope, vectors, 40)
            lex40 = await exhaustive_lexical(pool, params.model, scope, texts, 40)

            def fused(vector: list[list[int]], lexical: list[list[int]]) -> list[list[int]]:
                return [
                    [f.id for f in rrf(v, lx, params.rrf_k)[:10]]
                    for v, lx in zip(vector, lexical, strict=True)
                ]

            truth = fused(exact40, lex40)
            return {
                "recall@10": _recall(got, truth),
                "recall@10_vector_exact": _recall(fused(exact40, [lx for _, lx in legs]), truth),
                "recall@10_lexical_exact": _recall(fused([v for v, _ in legs], lex40), truth),
                **_summary(lat),
            }

        roles: dict[str, Any] = {}
        for role, (own, groups) in ROLES.items():
            scope = role_scope(own, owners)
            mask = np.isin(labels, [names.index(g) for g in groups])
            truth = exact_top(mask)
            async with pool.connection() as conn:
                gens = await generations(conn, scope)
            plan = await engine.plan_for(scope, gens)
            ef = settings.search.ef_search
            plans = {
                "chosen": plan,
                "exact": VectorPlan("exact", ef),
                "iterative": VectorPlan("iterative", ef),
                "hnsw": VectorPlan("hnsw", ef),
            }
            vector: dict[str, Any] = {}
            for name, p in plans.items():
                await vector_run(scope, p)  # warm the cache, then measure
                got, lat = await vector_run(scope, p)
                vector[name] = {"recall@10": _recall(got, truth), **_summary(lat)}
            await lexical_run(scope, plan, exhaustive=False)
            lexical, lex_lat = await lexical_run(scope, plan, exhaustive=False)
            lexical_truth, exhaustive_lat = await lexical_run(scope, plan, exhaustive=True)
            hybrid = await hybrid_run(scope, plan, questions, queries)
            held_lexical, _ = await lexical_run(scope, plan, False, held_out)
            held_truth, _ = await lexical_run(scope, plan, True, held_out)
            held_hybrid = await hybrid_run(scope, plan, held_out, held_out_vectors)
            roles[role] = {
                "scope_rows": int(mask.sum()),
                "scope_share": float(mask.mean()),
                "plan": plan.describe(),
                "vector": vector,
                "lexical": {
                    "recall@10": _recall(lexical, lexical_truth),
                    **_summary(lex_lat),
                    "exhaustive_p50_ms": percentile(exhaustive_lat, 50),
                    "exhaustive_p95_ms": percentile(exhaustive_lat, 95),
                },
                "hybrid": hybrid,
                "held_out": {
                    "lexical_recall@10": _recall(held_lexical, held_truth),
                    "hybrid": held_hybrid,
                },
            }
            r = roles[role]
            _log(
                f"{role}: plan={plan.kind} vector recall {vector['chosen']['recall@10']:.4f} "
                f"lexical recall {r['lexical']['recall@10']:.3f} "
                f"hybrid recall {r['hybrid']['recall@10']:.3f} "
                f"p95 {r['hybrid']['p95_ms']:.1f} ms; held out: lexical recall "
                f"{r['held_out']['lexical_recall@10']:.3f} hybrid recall "
                f"{r['held_out']['hybrid']['recall@10']:.3f} "
                f"p95 {r['held_out']['hybrid']['p95_ms']:.1f} ms"
            )

        truth = exact_top(np.ones(rows, bool))
        sweep = []
        for ef in SWEEP:
            got, lat = await vector_run(AccessScope(True), VectorPlan("hnsw", ef))
            m = {"recall@10": _recall(got, truth), **_summary(lat)}
            sweep.append({"ef_search": ef, **m})
            _log(f"ef_search={ef}: recall@10={m['recall@10']:.4f} p95={m['p95_ms']:.2f} ms")
        halfvec = await _halfvec(
            url, pool, params, queries, truth, settings.search.ef_search, loaded["hnsw_bytes"]
        )
    finally:
        await pool.close()
    _log("Supabase hybrid_search recipe side by side")
    peer_result = await peer.compare(url, params, questions, queries)
    return {
        "rows": rows,
        "queries": n,
        "held_out_queries": len(held_out),
        "held_out_sets": [f.stem for f in HELD_OUT],
        "database_url": url,
        "vectors_note": (
            f"{rows:,} synthetic {data.shape[1]}-dim chunks derived from {len(real):,} real "
            f"chunks ({embedder.model}): a real vector plus Gaussian noise of norm 0.5 in the "
            f"real data's top 48 principal directions, renormalised, with that chunk's sentences "
            f"shuffled plus 1-3 sentences of other chunks as its text; owners assigned per "
            f"synthetic document of {DOCUMENT_CHUNKS[0]}-{DOCUMENT_CHUNKS[1]} consecutive "
            f"chunks, as ingestion writes them; {n} real questions "
            f"(Hofmann) and their embeddings. Exact vector search: NumPy brute force over the "
            f"role's scope; exact lexical: BM25 over every matching chunk. Load: COPY "
            f"{loaded['copy_seconds']:.0f} s (BM25 weights and statistics by trigger), HNSW "
            f"build {loaded['index_seconds']:.0f} s; table {loaded['table_bytes'] / 2**20:.0f} "
            f"MiB with indexes, HNSW {loaded['hnsw_bytes'] / 2**20:.0f} MiB."
        ),
        "copy_seconds": loaded["copy_seconds"],
        "index_seconds": loaded["index_seconds"],
        "roles": roles,
        "sweep": sweep,
        "halfvec": halfvec,
        "peer": peer_result,
    }


async def _exact_vector(
    pool: Any, params: SearchParams, scope: AccessScope, queries: np.ndarray, k: int
) -> list[list[int]]:
    async with pool.connection() as conn:
        return [
            await vector_only(
                conn,
                params=params,
                scope=scope,
                plan=VectorPlan("exact", 40),
                query_vector=q.tolist(),
                k=k,
            )
            for q in queries
        ]


async def exhaustive_lexical(
    pool: Any, model: str, scope: AccessScope, questions: list[str], k: int
) -> list[list[int]]:
    """Each question's top `k` by BM25 over every matching chunk in scope: the lexical truth."""
    out = []
    async with pool.connection() as conn:
        for text in questions:
            cur = await conn.execute(
                exhaustive_candidates(model, scope), {"qt": text, "fk": k}, prepare=False
            )
            out.append([r["id"] for r in await cur.fetchall()])
    return out


async def _halfvec(
    url: str,
    pool: Any,
    params: SearchParams,
    queries: np.ndarray,
    truth: list[list[int]],
    ef_search: int,
    vector_bytes: int,
) -> dict[str, Any]:
    """The same HNSW built over halfvec (2-byte floats): size, build time, recall, latency,
    against the `vector` index's size (`vector_bytes`, measured when it was built)."""
    dim = params.dimensions
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        t0 = time.perf_counter()
        conn.execute(
            f"CREATE INDEX eval_halfvec_hnsw ON document_chunks USING hnsw "
            f"((embedding::halfvec({dim})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) "
            f"WHERE embedding_model = '{params.model}'"
        )
        build = time.perf_counter() - t0
        size = conn.execute("SELECT pg_relation_size('eval_halfvec_hnsw')").fetchone()
        assert size is not None
    query = (
        f"SELECT c.id FROM document_chunks AS c WHERE c.embedding_model = '{params.model}' "  # noqa: S608
        f"ORDER BY c.embedding::halfvec({dim}) <=> %s::halfvec({dim}) LIMIT 10"
    )
    out: dict[str, Any] = {
        "build_seconds": build,
        "halfvec_bytes": int(size[0]),
        "vector_bytes": vector_bytes,
        "by_ef": [],
    }
    async with pool.connection() as aconn:

        async def run(ef: int) -> tuple[list[list[int]], list[float]]:
            async def one(i: int) -> list[int]:
                async with aconn.transaction():
                    await aconn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
                    cur = await aconn.execute(query, (vector_literal(queries[i].tolist()),))
                    return [r["id"] for r in await cur.fetchall()]

            return await _timed(one, len(queries))

        for ef in (40, ef_search):
            await run(ef)
            got, lat = await run(ef)
            out["by_ef"].append(
                {"ef_search": ef, "recall@10": _recall(got, truth), **_summary(lat)}
            )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP INDEX eval_halfvec_hnsw")
    _log(f"halfvec: {out}")
    return out
