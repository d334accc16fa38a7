"""A >= 10k-chunk knowledge base for realistic search load: the shared books, DBpedia abstracts,
and scaled synthetic study notes made of real sentences, all with real MiniLM embeddings.

Chunks go straight into knowledge_documents/document_chunks (schema 0003) as public platform
documents titled "loadtest: ...", so every user's search sees them. Embeddings are cached under
LOCAL_DIR so a second run seeds in seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from service.core.config import Settings
from service.embeddings.factory import LOCAL_DEFAULT_MODEL, build_embedder
from service.embeddings.tokens import bert_uncased_wordpiece

# The local model the API embeds questions with by default (EMBEDDING_PROVIDER=local).
EMBEDDING_MODEL = LOCAL_DEFAULT_MODEL
EMBEDDING_DIM = 384
TITLE_PREFIX = "loadtest: "
CHUNK_CHARS = 700

BOOKS = {
    "Hofmann, Piano Playing": "hofmann-piano-playing/hofmann_piano_playing.utf8.txt",
    "Brower, Piano Mastery": "brower-piano-mastery/brower_piano_mastery.utf8.txt",
    "Cooke, Great Pianists on Piano Playing": "cooke-great-pianists/cooke_great_pianists.utf8.txt",
    "Hullah, Theodor Leschetizky": "hullah-leschetizky/43915-0.txt",
}


@dataclass(frozen=True)
class SeedDocument:
    title: str
    source_type: str
    chunks: list[str]


def _paragraph_chunks(text: str) -> list[str]:
    """Paragraphs merged up to ~CHUNK_CHARS, the way an ingest chunker would cut prose."""
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    chunks: list[str] = []
    current = ""
    for para in paragraphs:
        if len(para) < 40:
            continue
        if current and len(current) + len(para) > CHUNK_CHARS:
            chunks.append(current)
            current = ""
        current = f"{current} {para}".strip()
    if current:
        chunks.append(current)
    return chunks


def build_documents(corpus: Path, target_chunks: int) -> list[SeedDocument]:
    docs = [
        SeedDocument(
            f"{TITLE_PREFIX}{title}",
            "text",
            _paragraph_chunks((corpus / rel).read_text(encoding="utf-8", errors="replace")),
        )
        for title, rel in BOOKS.items()
    ]
    dbpedia = corpus / "dbpedia-entity-subset" / "corpus.jsonl"
    if dbpedia.exists():
        rows = [json.loads(line) for line in dbpedia.read_text(encoding="utf-8").splitlines()]
        texts = [f"{r.get('title', '')}: {r.get('text', '')}".strip() for r in rows]
        for start in range(0, len(texts), 500):
            docs.append(
                SeedDocument(
                    f"{TITLE_PREFIX}DBpedia abstracts {start // 500 + 1}",
                    "web",
                    [t[:2000] for t in texts[start : start + 500] if len(t) > 40],
                )
            )
    have = sum(len(d.chunks) for d in docs)
    if have < target_chunks:
        return docs + _synthetic(docs, target_chunks - have)
    # Smaller corpora (smoke runs) keep a slice of every document rather than whole books.
    share = target_chunks / have
    return [
        SeedDocument(d.title, d.source_type, d.chunks[: max(1, int(len(d.chunks) * share))])
        for d in docs
    ]


def _synthetic(docs: list[SeedDocument], needed: int) -> list[SeedDocument]:
    """Study notes: 4-6 real book sentences per chunk, recombined deterministically."""
    sentences = [
        s.strip()
        for d in docs
        if d.source_type == "text"
        for chunk in d.chunks
        for s in re.split(r"(?<=[.!?])\s+", chunk)
        if 40 <= len(s.strip()) <= 300
    ]
    rng = random.Random(10_000)
    out: list[SeedDocument] = []
    per_doc = 200
    made = 0
    while made < needed:
        count = min(per_doc, needed - made)
        chunks = [" ".join(rng.sample(sentences, rng.randint(4, 6))) for _ in range(count)]
        out.append(SeedDocument(f"{TITLE_PREFIX}Study notes {len(out) + 1}", "text", chunks))
        made += count
    return out


def _fit(text: str, max_tokens: int) -> str:
    """The text cut to the model's input limit (the vector covers its start, as in search)."""
    tokenizer = bert_uncased_wordpiece()
    keep = max_tokens - 2  # word pieces besides [CLS] and [SEP]
    while True:
        encoding = tokenizer.encode(text)
        if len(encoding.ids) <= max_tokens:
            return text
        # offsets[0] is [CLS]; a cut inside a word can re-tokenise longer, hence the loop.
        text = text[: encoding.offsets[keep][1]]
        keep -= 2


def embed(texts: list[str], cache_dir: Path, threads: int = 1) -> np.ndarray:
    """Embeddings (normalised) with the API's default local model, cached by model and content."""
    digest = hashlib.sha256("\x1e".join([EMBEDDING_MODEL, *texts]).encode()).hexdigest()[:16]
    cache = cache_dir / f"embeddings-{len(texts)}-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    embedder = build_embedder(
        Settings.with_values(embedding_provider="local", embedding_model=EMBEDDING_MODEL)
    )
    assert embedder.model == EMBEDDING_MODEL
    started = time.perf_counter()
    vectors = asyncio.run(embedder.embed([_fit(t, embedder.max_tokens) for t in texts]))
    print(f"==> embedded {len(texts)} chunks in {time.perf_counter() - started:.0f}s", flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return np.asarray(vectors)


def seeded_chunk_count(conn: psycopg.Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM document_chunks c JOIN knowledge_documents d ON d.id = c.document_id "
        "WHERE d.title LIKE %s",
        (TITLE_PREFIX + "%",),
    ).fetchone()
    return int(row[0]) if row else 0


def seed_corpus(database_url: str, corpus: Path, target_chunks: int, cache_dir: Path) -> int:
    """Idempotent: keeps an existing load-test corpus of the right size. Returns chunks present."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        existing = seeded_chunk_count(conn)
        if existing >= target_chunks:
            print(f"==> corpus: {existing} load-test chunks already present", flush=True)
            return existing
    docs = build_documents(corpus, target_chunks)
    texts = [c for d in docs for c in d.chunks]
    vectors = embed(texts, cache_dir)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM knowledge_documents WHERE title LIKE %s", (TITLE_PREFIX + "%",))
        offset = 0
        for doc in docs:
            row = conn.execute(
                "INSERT INTO knowledge_documents (title, source_type, is_public, status,"
                " chunks_total, chunks_embedded, embedding_model, embedding_dim)"
                " VALUES (%s, %s, true, 'completed', %s, %s, %s, %s) RETURNING id",
                (
                    doc.title,
                    doc.source_type,
                    len(doc.chunks),
                    len(doc.chunks),
                    EMBEDDING_MODEL,
                    EMBEDDING_DIM,
                ),
            ).fetchone()
            assert row is not None
            with conn.cursor().copy(
                "COPY document_chunks (document_id, chunk_index, content, token_count,"
                " char_start, char_end, is_public, embedding_model, embedding) FROM STDIN"
            ) as copy:
                pos = 0
                for index, chunk in enumerate(doc.chunks):
                    vec = "[" + ",".join(f"{v:.6f}" for v in vectors[offset + index]) + "]"
                    copy.write_row(
                        (
                            row[0],
                            index,
                            chunk,
                            len(chunk.split()),
                            pos,
                            pos + len(chunk),
                            True,
                            EMBEDDING_MODEL,
                            vec,
                        )
                    )
                    pos += len(chunk) + 1
            offset += len(doc.chunks)
        conn.commit()
        conn.execute("ANALYZE document_chunks")
        count = seeded_chunk_count(conn)
    print(f"==> corpus: seeded {count} chunks in {len(docs)} documents", flush=True)
    return count
