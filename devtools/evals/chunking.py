"""Chunking for retrieval: today's chunks against small embedded windows that return their parent.

`python -m devtools.evals --chunking [--queries FILE ...]` builds two databases from the books
(no DBpedia: the question sets are all about the books):

- `chunks`: today's pipeline (`process_document`): 512 cl100k tokens with 128 overlap, cut further
  to the embedding model's own limit (all-MiniLM-L6-v2: 256 word pieces, ~220 tokens), every
  chunk embedded and returned as it is;
- `windows`: parents of 512 tokens with 128 overlap (not cut to the model's limit: they are never
  embedded), each cut into windows of `WINDOW_TOKENS` with `WINDOW_OVERLAP` overlap by the same
  chunker; windows are embedded and searched (both legs), and a window found returns its parent,
  each parent once, at its best window's rank.

Both run the production hybrid search (and the vector leg alone) over their rows. Evidence is
matched against what is returned (a chunk, or a parent), so bigger units find evidence more
easily: the table reports the average tokens of the top 5 returned, the context an answer gets.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from psycopg import sql

from devtools.evals.corpus import ingest_books
from devtools.evals.metrics import normalise
from devtools.evals.querysets import Retrieved, load, mean, role, score
from devtools.evals.retrieval_eval import engine_for, open_pool
from devtools.evals.variants import retriever
from devtools.postgres import create_scratch_database
from devtools.seed import SEED_BOOKS
from service.core.config import Settings
from service.core.db import Conn
from service.embeddings.base import Embedder
from service.embeddings.tokens import count_cl100k
from service.knowledge.chunker import Chunk, Chunker, ChunkingPolicy
from service.knowledge.extracted import Block, Extracted
from service.knowledge.sources import CORPUS_SCHEME, SourceReader
from service.knowledge.vector_index import ensure_vector_index
from service.repositories import knowledge as repo

WINDOW_TOKENS = 128
WINDOW_OVERLAP = 32
K = 10


def _log(msg: str) -> None:
    print(f"  [chunking] {msg}", flush=True)


async def _windows_corpus(
    conn: Conn, settings: Settings, embedder: Embedder
) -> dict[int, tuple[str, str]]:
    """Loads windows as the searchable rows; returns window id -> (parent text, parent key)."""
    await ensure_vector_index(conn, embedder.model, embedder.dimensions)
    reader = SourceReader(settings, None)
    parents_policy = ChunkingPolicy(
        settings.ingest.chunk_tokens, settings.ingest.chunk_overlap_tokens
    )
    windows_policy = ChunkingPolicy(
        WINDOW_TOKENS,
        WINDOW_OVERLAP,
        model_max_tokens=embedder.max_tokens,
        count_model_tokens=embedder.count_tokens,
    )
    parent_of: dict[int, tuple[str, str]] = {}
    for book in SEED_BOOKS:
        if not (settings.local.corpus_dir / book.path).is_file():
            continue
        doc_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO knowledge_documents (id, title, source_type, source_url, is_public, "
            "status) VALUES (%s, %s, %s, %s, true, 'completed')",
            (doc_id, book.title, book.source_type, CORPUS_SCHEME + book.path),
        )
        doc = await repo.get(conn, doc_id)
        assert doc is not None
        extracted = await reader.extract(doc)
        parents = Chunker(parents_policy).chunk(extracted)
        rows: list[tuple[Chunk, str, str]] = []
        for p_index, parent in enumerate(parents):
            for w in Chunker(windows_policy).chunk(Extracted([Block(parent.content)])):
                rows.append((w, parent.content, f"{doc_id}:{p_index}"))
        started = time.perf_counter()
        vectors = await embedder.embed([w.content for w, _, _ in rows])
        for i, ((w, parent_text, key), vec) in enumerate(zip(rows, vectors, strict=True)):
            cur = await conn.execute(
                "INSERT INTO document_chunks (document_id, chunk_index, content, token_count, "
                "char_start, char_end, owner_id, is_public, embedding_model, embedding) "
                "VALUES (%s, %s, %s, %s, 0, %s, NULL, true, %s, %s::vector) RETURNING id",
                (doc_id, i, w.content, w.token_count, len(w.content), embedder.model,
                 "[" + ",".join(f"{x:.7g}" for x in vec) + "]"),
            )  # fmt: skip
            row = await cur.fetchone()
            assert row is not None
            parent_of[int(row["id"])] = (parent_text, key)
        _log(
            f"{book.path}: {len(parents)} parents, {len(rows)} windows "
            f"({time.perf_counter() - started:.0f} s)"
        )
    await conn.execute("ANALYZE document_chunks")
    return parent_of


async def _evaluate(
    db_url: str,
    settings: Settings,
    embedder: Embedder,
    files: list[Path],
    units: dict[int, tuple[str, str]],
    name: str,
) -> dict[str, Any]:
    """Each retriever over these rows; `units` maps a row to what is returned for it."""
    pool = await open_pool(db_url, max_size=2)
    out: dict[str, Any] = {}
    try:
        engine = engine_for(settings, pool, embedder)
        returned = {text for text, _ in units.values()}
        all_texts = [normalise(t) for t in returned]
        for variant in ("hybrid", "dense"):
            retrieve = retriever(variant, engine, pool)
            for path in files:
                queries = load(path)
                vectors = await embedder.embed([q.query for q in queries])
                scores, sizes = [], []
                for q, vec in zip(queries, vectors, strict=True):
                    ids = await retrieve(q.query, vec, 4 * K)
                    seen: set[str] = set()
                    ranked: list[Retrieved] = []
                    for cid in ids:
                        text, key = units[cid]
                        if key not in seen:
                            seen.add(key)
                            ranked.append(Retrieved(normalise(text), key))
                    ranked = ranked[:K]
                    scores.append(score(q, ranked, all_texts, K))
                    sizes.append(sum(count_cl100k(units[c][0]) for c in _firsts(ids, units, 5)) / 5)
                out[f"{name}/{variant}/{path.stem}"] = {
                    "corpus": name,
                    "retriever": variant,
                    "set": path.stem,
                    "role": role(path.stem),
                    "queries": len(queries),
                    **mean(scores),
                    "top5_tokens": sum(sizes) / max(1, len(sizes)),
                }
                m = out[f"{name}/{variant}/{path.stem}"]
                _log(
                    f"{name}/{variant}/{path.stem}: recall@1={m['recall@1']:.3f} "
                    f"recall@10={m['recall@10']:.3f} MRR={m['mrr']:.3f} "
                    f"top-5 tokens={m['top5_tokens']:.0f}"
                )
    finally:
        await pool.close()
    return out


def _firsts(ids: list[int], units: dict[int, tuple[str, str]], n: int) -> list[int]:
    """The first row of each of the first n distinct units."""
    seen: set[str] = set()
    out = []
    for cid in ids:
        key = units[cid][1]
        if key not in seen:
            seen.add(key)
            out.append(cid)
        if len(out) == n:
            break
    return out


async def chunking_study(
    settings: Settings, embedder: Embedder, server_url: str, files: list[Path]
) -> dict[str, Any]:
    import psycopg
    from psycopg.rows import dict_row

    results: dict[str, Any] = {"window_tokens": WINDOW_TOKENS, "window_overlap": WINDOW_OVERLAP}
    chunks_url = create_scratch_database(server_url, "eval_chunking_chunks")
    windows_url = create_scratch_database(server_url, "eval_chunking_windows")
    async with await psycopg.AsyncConnection.connect(
        chunks_url, autocommit=True, row_factory=dict_row
    ) as conn:
        _log("today's chunks (the ingestion pipeline)")
        await ingest_books(conn, settings, embedder)
        cur = await conn.execute(
            sql.SQL("SELECT c.id, c.content, c.document_id FROM document_chunks AS c")
        )
        chunk_units = {int(r["id"]): (r["content"], str(r["id"])) for r in await cur.fetchall()}
    async with await psycopg.AsyncConnection.connect(
        windows_url, autocommit=True, row_factory=dict_row
    ) as conn:
        _log(f"windows of {WINDOW_TOKENS} tokens returning 512-token parents")
        window_units = await _windows_corpus(conn, settings, embedder)
    windows_as_is = {cid: (_window_text(windows_url, cid), str(cid)) for cid in window_units}
    rows: dict[str, Any] = {}
    rows |= await _evaluate(chunks_url, settings, embedder, files, chunk_units, "chunks")
    rows |= await _evaluate(windows_url, settings, embedder, files, window_units, "windows->parent")
    rows |= await _evaluate(windows_url, settings, embedder, files, windows_as_is, "windows")
    results["rows"] = rows
    results["units"] = {
        "chunks": len(chunk_units),
        "windows": len(window_units),
        "parents": len({key for _, key in window_units.values()}),
    }
    return results


_WINDOW_TEXTS: dict[str, dict[int, str]] = {}


def _window_text(url: str, cid: int) -> str:
    if url not in _WINDOW_TEXTS:
        import psycopg

        with psycopg.connect(url) as conn:
            _WINDOW_TEXTS[url] = dict(conn.execute("SELECT id, content FROM document_chunks"))
    return _WINDOW_TEXTS[url][cid]
