"""Re-embed drill: move every chunk to a new embedding model while searches keep succeeding.

Rehearses runbooks/procedures/reembed.md on the knowledge schema's pattern (service/migrations/0003):
an untyped ``vector`` column with ``embedding_model`` per row and one partial HNSW index per
model, cast to that model's dimension. While a searcher thread queries without pause, the drill

1. builds the new model's index with CREATE INDEX CONCURRENTLY,
2. writes each document's new-model chunks in one transaction (a document is never half done),
3. switches the query model (in production: the setting plus a rolling restart),
4. deletes the old vectors and drops the old index concurrently.

It passes when no search failed or came back empty, every search after the switch returned only
new-model rows, and the planner can use the new index. Tables are the drill's own
(``drill_kb_*``), created and dropped in the target database.

    python -m devtools.drills.reembed [--database-url URL] [--report PATH]
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from devtools.drills import EMBEDDED_DIR, parse_args, publish
from devtools.postgres import create_scratch_database, start_embedded

OLD_MODEL, OLD_DIM = "drill/old-model", 8
NEW_MODEL, NEW_DIM = "drill/new-model", 12
DOCUMENTS, CHUNKS_PER_DOCUMENT = 120, 5


@dataclass
class SearchStats:
    ok: int = 0
    failed: int = 0
    empty: int = 0
    wrong_model_after_switch: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Report:
    ok: bool
    searches: int
    failed: int
    empty: int
    wrong_model_after_switch: int
    search_p95_ms: float
    documents: int
    chunks_reembedded: int
    index_build_seconds: float
    reembed_seconds: float
    new_index_used: bool
    old_index_dropped: bool
    errors: list[str]


def fake_embedding(text: str, dim: int) -> list[float]:
    """Deterministic stand-in vectors: the drill tests the procedure, not a model."""
    digest = hashlib.sha256(f"{dim}:{text}".encode()).digest()
    return [(digest[i % len(digest)] - 127.5) / 127.5 + 0.001 for i in range(dim)]


def _vec(values: list[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


def _index_name(model: str) -> str:
    return "drill_kb_hnsw_" + model.split("/")[-1].replace("-", "_")


def _index_sql(model: str, dim: int) -> sql.Composed:
    return sql.SQL(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON drill_kb_chunks "
        "USING hnsw ((embedding::vector({})) vector_cosine_ops) WHERE embedding_model = {}"
    ).format(sql.Identifier(_index_name(model)), sql.Literal(dim), sql.Literal(model))


def _search_sql(model: str, dim: int) -> sql.Composed:
    # Model and dimension as literals, like the service: the partial index only matches then.
    return sql.SQL(
        "SELECT document_id, embedding_model FROM drill_kb_chunks WHERE embedding_model = {m} "
        "ORDER BY embedding::vector({d}) <=> %s::vector({d}) LIMIT 10"
    ).format(m=sql.Literal(model), d=sql.Literal(dim))


def setup(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute("DROP TABLE IF EXISTS drill_kb_chunks, drill_kb_settings")
    conn.execute(
        """CREATE TABLE drill_kb_chunks (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            document_id integer NOT NULL,
            chunk_index integer NOT NULL,
            content text NOT NULL,
            embedding_model text NOT NULL,
            embedding vector NOT NULL,
            UNIQUE (document_id, chunk_index, embedding_model))"""
    )
    # Stands in for the service setting that names the query model.
    conn.execute("CREATE TABLE drill_kb_settings (query_model text NOT NULL, dim int NOT NULL)")
    conn.execute("INSERT INTO drill_kb_settings VALUES (%s, %s)", (OLD_MODEL, OLD_DIM))
    conn.execute(_index_sql(OLD_MODEL, OLD_DIM))
    rows = [
        (doc, i, _content(doc, i), OLD_MODEL, _vec(fake_embedding(_content(doc, i), OLD_DIM)))
        for doc in range(DOCUMENTS)
        for i in range(CHUNKS_PER_DOCUMENT)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO drill_kb_chunks (document_id, chunk_index, content, embedding_model, "
            "embedding) VALUES (%s, %s, %s, %s, %s::vector)",
            rows,
        )


def _content(doc: int, i: int) -> str:
    return f"document {doc} chunk {i}: keep the wrist loose in legato passages"


class Searcher(threading.Thread):
    """Queries without pause with whatever model is configured at that moment."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stats = SearchStats()
        self.stop = threading.Event()
        self.switched = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            n = 0
            while not self.stop.is_set():
                n += 1
                self._one(conn, n)

    def _one(self, conn: psycopg.Connection[Any], n: int) -> None:
        switched = self.switched.is_set()
        start = time.perf_counter()
        try:
            row = conn.execute("SELECT query_model, dim FROM drill_kb_settings").fetchone()
            assert row is not None
            model, dim = str(row[0]), int(row[1])
            query = _vec(fake_embedding(f"question {n % 50}", dim))
            results = conn.execute(_search_sql(model, dim), (query,)).fetchall()
        except psycopg.Error as exc:
            self.stats.failed += 1
            self.stats.errors.append(repr(exc))
            return
        self.stats.latencies_ms.append((time.perf_counter() - start) * 1000)
        if not results:
            self.stats.empty += 1
            return
        self.stats.ok += 1
        if switched and any(r[1] != NEW_MODEL for r in results):
            self.stats.wrong_model_after_switch += 1


def run(url: str, *, cleanup_before_switch: bool = False) -> Report:
    """``cleanup_before_switch`` swaps the last two steps: tests use it to show that the drill
    catches a broken procedure."""
    with psycopg.connect(url, autocommit=True) as conn:
        setup(conn)
    searcher = Searcher(url)
    searcher.start()
    try:
        time.sleep(0.3)
        with psycopg.connect(url, autocommit=True) as conn:
            start = time.perf_counter()
            conn.execute(_index_sql(NEW_MODEL, NEW_DIM))
            index_seconds = time.perf_counter() - start
            start = time.perf_counter()
            for doc in range(DOCUMENTS):
                with conn.transaction():
                    for i in range(CHUNKS_PER_DOCUMENT):
                        text = _content(doc, i)
                        conn.execute(
                            "INSERT INTO drill_kb_chunks (document_id, chunk_index, content, "
                            "embedding_model, embedding) VALUES (%s, %s, %s, %s, %s::vector)",
                            (doc, i, text, NEW_MODEL, _vec(fake_embedding(text, NEW_DIM))),
                        )
            reembed_seconds = time.perf_counter() - start
            steps = [lambda: _switch(conn, searcher), lambda: _cleanup(conn)]
            for step in reversed(steps) if cleanup_before_switch else steps:
                step()
                time.sleep(0.3)
            new_index_used = _uses_index(conn, _index_name(NEW_MODEL))
            old_dropped = conn.execute(
                "SELECT to_regclass(%s)", (_index_name(OLD_MODEL),)
            ).fetchone() == (None,)
            reembedded = conn.execute(
                "SELECT count(*) FROM drill_kb_chunks WHERE embedding_model = %s", (NEW_MODEL,)
            ).fetchone()
    finally:
        searcher.stop.set()
        searcher.join(timeout=30)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS drill_kb_chunks, drill_kb_settings")
    stats = searcher.stats
    lat = sorted(stats.latencies_ms)
    p95 = lat[int(0.95 * (len(lat) - 1))] if lat else 0.0
    chunks = int(reembedded[0]) if reembedded else 0
    ok = (
        stats.ok > 0
        and stats.failed == 0
        and stats.empty == 0
        and stats.wrong_model_after_switch == 0
        and new_index_used
        and old_dropped
        and chunks == DOCUMENTS * CHUNKS_PER_DOCUMENT
    )
    return Report(
        ok=ok,
        searches=stats.ok + stats.failed + stats.empty,
        failed=stats.failed,
        empty=stats.empty,
        wrong_model_after_switch=stats.wrong_model_after_switch,
        search_p95_ms=round(p95, 2),
        documents=DOCUMENTS,
        chunks_reembedded=chunks,
        index_build_seconds=round(index_seconds, 3),
        reembed_seconds=round(reembed_seconds, 3),
        new_index_used=new_index_used,
        old_index_dropped=old_dropped,
        errors=stats.errors[:5],
    )


def _switch(conn: psycopg.Connection[Any], searcher: Searcher) -> None:
    conn.execute("UPDATE drill_kb_settings SET query_model = %s, dim = %s", (NEW_MODEL, NEW_DIM))
    searcher.switched.set()


def _cleanup(conn: psycopg.Connection[Any]) -> None:
    conn.execute("DELETE FROM drill_kb_chunks WHERE embedding_model = %s", (OLD_MODEL,))
    conn.execute(
        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(
            sql.Identifier(_index_name(OLD_MODEL))
        )
    )


def _uses_index(conn: psycopg.Connection[Any], index: str) -> bool:
    """EXPLAIN with sequential scans off: proves the partial index matches the query shape."""
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        query = sql.SQL("EXPLAIN ") + _search_sql(NEW_MODEL, NEW_DIM)
        plan = conn.execute(query, (_vec(fake_embedding("probe", NEW_DIM)),)).fetchall()
    return any(index in str(line[0]) for line in plan)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__, "reembed.json", argv)
    url = args.database_url
    if not url:
        server = start_embedded(EMBEDDED_DIR)
        url = create_scratch_database(server, "drill_reembed", migrate=False)
    report = run(url)
    return publish(report, args.report)


if __name__ == "__main__":
    sys.exit(main())
