"""ANN recall@10 against exact search at scale, per role scope, and the ef_search sweep.

Vectors: synthetic, derived from the real chunk embeddings of the eval corpus (real vectors
perturbed within their principal subspace and renormalised; see `synthesise`). Queries: real
embeddings of Hofmann's questions. Exact top 10 is computed in NumPy over the caller's scope;
the ANN side is the production vector leg with the plan the engine picks for that scope.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import numpy as np
import psycopg

from devtools.evals.metrics import percentile
from devtools.evals.querysets import SHIPPED, load
from devtools.evals.retrieval_eval import engine_for, open_pool
from devtools.postgres import create_scratch_database
from service.access.scope import AccessScope
from service.cache.generations import generations
from service.core.config import Settings
from service.embeddings.base import Embedder
from service.search.hybrid import hybrid_search, vector_only
from service.search.plan import VectorPlan

SWEEP = (20, 40, 60, 80, 160)
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


def _log(msg: str) -> None:
    print(f"  [ann] {msg}", flush=True)


def _real_vectors(corpus_url: str) -> np.ndarray:
    with psycopg.connect(corpus_url) as conn:
        rows = conn.execute("SELECT embedding::text FROM document_chunks").fetchall()
    return np.array([json.loads(r[0]) for r in rows], dtype=np.float32)


def synthesise(
    real: np.ndarray, rows: int, seed: int = 42, rank: int = 48, noise_norm: float = 0.5
) -> np.ndarray:
    """Each point is a real vector plus Gaussian noise drawn in the real data's top `rank`
    principal directions (scaled by their spread, norm `noise_norm`), renormalised.

    Noise in the principal subspace keeps points on the embedding manifold. Isotropic noise
    (tried first) instead builds tight clumps of near-duplicates around each real vector, where
    the exact top 10 are near-ties no real corpus has; HNSW recall there was 0.6-0.8.
    """
    rng = np.random.default_rng(seed)
    centred = real - real.mean(axis=0)
    _, spread, directions = np.linalg.svd(centred, full_matrices=False)
    rank = min(rank, len(spread))
    base = real[rng.integers(0, len(real), rows)]
    coef = rng.normal(size=(rows, rank)) * (spread[:rank] / spread[:rank].mean())
    noise = (coef @ directions[:rank]).astype(np.float32)
    noise *= noise_norm / np.linalg.norm(noise, axis=1, keepdims=True)
    data = base + noise
    return data / np.linalg.norm(data, axis=1, keepdims=True)


def _load(url: str, data: np.ndarray, labels: np.ndarray, model: str) -> dict[str, Any]:
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
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY document_chunks (document_id, chunk_index, content, token_count, char_start, "
                "char_end, owner_id, is_public, embedding_model, embedding) FROM STDIN"
            ) as copy,
        ):
            for i in range(len(data)):
                g = names[labels[i]]
                vec = "[" + ",".join(f"{x:.6g}" for x in data[i].tolist()) + "]"
                copy.write_row(
                    (
                        docs[g],
                        i,
                        f"synthetic chunk {i}",
                        3,
                        0,
                        1,
                        owners.get(g),
                        g == "public",
                        model,
                        vec,
                    )
                )
                if (i + 1) % 25000 == 0:
                    _log(f"copied {i + 1:,} rows ({time.perf_counter() - t0:.0f} s)")
        timings["copy_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        for _, definition in index:
            _log("building HNSW index")
            conn.execute(definition)
        timings["index_seconds"] = time.perf_counter() - t0
        conn.execute("ANALYZE document_chunks")
        first = conn.execute("SELECT min(id) FROM document_chunks").fetchone()
        timings["first_id"] = int(first[0]) if first else 1
    return {"owners": owners, **timings}


async def ann_study(
    settings: Settings,
    embedder: Embedder,
    corpus_url: str,
    server_url: str,
    rows: int,
    n_queries: int,
) -> dict[str, Any]:
    real = _real_vectors(corpus_url)
    _log(f"{len(real):,} real chunk vectors -> {rows:,} synthetic")
    data = synthesise(real, rows)
    rng = np.random.default_rng(7)
    shares = np.array(list(GROUPS.values()))
    labels = rng.choice(len(GROUPS), size=rows, p=shares / shares.sum())
    url = create_scratch_database(server_url, "eval_ann")
    loaded = _load(url, data, labels, embedder.model)
    _log(f"copy {loaded['copy_seconds']:.0f} s, index {loaded['index_seconds']:.0f} s")
    questions = [q.query for q in load(SHIPPED[0])][:n_queries]
    queries = np.array(await embedder.embed(questions), dtype=np.float32)
    ids = np.arange(rows) + loaded["first_id"]
    names = list(GROUPS)
    owners: dict[str, uuid.UUID] = loaded["owners"]

    pool = await open_pool(url, max_size=2)
    try:
        engine = engine_for(settings, pool, embedder)
        params = engine.params

        def exact_top(mask: np.ndarray) -> list[set[int]]:
            out = []
            for q in queries:
                sims = data @ q
                sims[~mask] = -np.inf
                out.append(set(ids[np.argpartition(-sims, 10)[:10]].tolist()))
            return out

        async def measure(
            scope: AccessScope, plan: VectorPlan, truth: list[set[int]]
        ) -> dict[str, float]:
            found, lat = 0, []
            async with pool.connection() as conn:
                for q, t in zip(queries, truth, strict=True):
                    t0 = time.perf_counter()
                    got = await vector_only(
                        conn, params=params, scope=scope, plan=plan, query_vector=q.tolist(), k=10
                    )
                    lat.append((time.perf_counter() - t0) * 1000)
                    found += len(t & set(got))
            return {
                "recall@10": found / (10 * len(truth)),
                "p50_ms": percentile(lat, 50),
                "p95_ms": percentile(lat, 95),
            }

        roles: dict[str, Any] = {}
        for role, (own, groups) in ROLES.items():
            scope = (
                AccessScope(True)
                if own is None
                else AccessScope(False, frozenset(owners[g] for g in own))
            )
            mask = np.isin(labels, [names.index(g) for g in groups])
            truth = exact_top(mask)
            async with pool.connection() as conn:
                gens = await generations(conn, scope)
            plan = await engine.plan_for(scope, gens)
            planned = await measure(scope, plan, truth)
            naive = await measure(scope, VectorPlan("hnsw", settings.search.ef_search), truth)
            hybrid_lat = []
            async with pool.connection() as conn:
                for text, q in zip(questions, queries, strict=True):
                    t0 = time.perf_counter()
                    await hybrid_search(
                        conn,
                        params=params,
                        scope=scope,
                        plan=plan,
                        query_text=text,
                        query_vector=q.tolist(),
                        limit=10,
                    )
                    hybrid_lat.append((time.perf_counter() - t0) * 1000)
            roles[role] = {
                "scope_rows": int(mask.sum()),
                "scope_share": float(mask.mean()),
                "plan": plan.describe(),
                "recall@10": planned["recall@10"],
                "vector_p50_ms": planned["p50_ms"],
                "vector_p95_ms": planned["p95_ms"],
                "naive_recall@10": naive["recall@10"],
                "hybrid_p50_ms": percentile(hybrid_lat, 50),
                "hybrid_p95_ms": percentile(hybrid_lat, 95),
            }
            r = roles[role]
            _log(
                f"{role}: plan={plan.kind} ef={plan.ef_search} recall@10={r['recall@10']:.4f} (naive {r['naive_recall@10']:.3f}) vector p50={r['vector_p50_ms']:.1f} ms hybrid p95={r['hybrid_p95_ms']:.1f} ms"
            )

        truth = exact_top(np.ones(rows, bool))
        sweep = []
        for ef in SWEEP:
            m = await measure(AccessScope(True), VectorPlan("hnsw", ef), truth)
            sweep.append({"ef_search": ef, **m})
            _log(
                f"ef_search={ef}: recall@10={m['recall@10']:.4f} p50={m['p50_ms']:.2f} ms p95={m['p95_ms']:.2f} ms"
            )
    finally:
        await pool.close()
    return {
        "rows": rows,
        "queries": len(queries),
        "vectors_note": (
            f"{rows:,} synthetic {data.shape[1]}-dim vectors derived from {len(real):,} real "
            f"chunk embeddings ({embedder.model}): a real vector plus Gaussian noise of norm 0.5 in "
            f"the real data's top 48 principal directions, renormalised; "
            f"{len(queries)} real query embeddings (Hofmann questions). Exact search = NumPy "
            f"brute force over the role's scope. Load: COPY {loaded['copy_seconds']:.0f} s, "
            f"HNSW build {loaded['index_seconds']:.0f} s."
        ),
        "copy_seconds": loaded["copy_seconds"],
        "index_seconds": loaded["index_seconds"],
        "roles": roles,
        "sweep": sweep,
    }
