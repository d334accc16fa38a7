"""Demo data: the shared public-domain books as public platform documents (`make seed`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from service.core.db import Conn
from service.knowledge.queue import SEED_LOCK, SEED_PRIORITY, QueueClient
from service.knowledge.sources import CORPUS_SCHEME

# Fixed ids: seeding twice finds the rows already there (they are the "seeded" marker).
_NAMESPACE = uuid.UUID("5d1e0c4e-8f3a-4a0e-9a55-6b1f0f6c0a11")


@dataclass(frozen=True)
class SeedBook:
    title: str
    source_type: str
    path: str  # relative to CORPUS_DIR

    @property
    def id(self) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, self.path)


SEED_BOOKS = (
    SeedBook(
        "Piano Playing, with Piano Questions Answered (Josef Hofmann, 1909)",
        "text",
        "hofmann-piano-playing/hofmann_piano_playing.utf8.txt",
    ),
    SeedBook(
        "Piano Mastery (Harriette Brower, 1915)",
        "text",
        "brower-piano-mastery/brower_piano_mastery.utf8.txt",
    ),
    SeedBook(
        "Great Pianists on Piano Playing (James Francis Cooke, 1913)",
        "text",
        "cooke-great-pianists/cooke_great_pianists.utf8.txt",
    ),
    SeedBook(
        "Theodor Leschetizky (Annette Hullah, 1906)",
        "text",
        "hullah-leschetizky/43915-0.txt",
    ),
    SeedBook(
        "Great Pianists on Piano Playing, pp. 3-40 (1913 scans with text layer)",
        "pdf",
        "cooke-1913-scans-pdf/cooke_1913_pp003-040_scans_textlayer.pdf",
    ),
)


async def seed_corpus(
    conn: Conn, queue: QueueClient, corpus_dir: Path, books: tuple[SeedBook, ...] = SEED_BOOKS
) -> list[uuid.UUID]:
    """Inserts missing books and queues them; returns the ids queued now (empty if seeded)."""
    queued: list[uuid.UUID] = []
    for book in books:
        if not (corpus_dir / book.path).is_file():
            print(f"    seed: skipping {book.path} (not found under {corpus_dir})", flush=True)
            continue
        cur = await conn.execute(
            "INSERT INTO knowledge_documents (id, owner_id, created_by, title, source_type, "
            "source_url, filename, is_public) VALUES (%s, NULL, NULL, %s, %s, %s, %s, true) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            (
                book.id,
                book.title,
                book.source_type,
                CORPUS_SCHEME + book.path,
                Path(book.path).name,
            ),
        )
        if await cur.fetchone() is not None:
            await queue.enqueue_processing(book.id, priority=SEED_PRIORITY, lock=SEED_LOCK)
            queued.append(book.id)
    return queued


async def reembed_stale(
    conn: Conn, queue: QueueClient, model: str, books: tuple[SeedBook, ...] = SEED_BOOKS
) -> tuple[list[uuid.UUID], int]:
    """Queues the demo books embedded with another model than `model` (the searches' model), so
    they are found again; returns them, and how many other documents are in the same state."""
    cur = await conn.execute(
        "SELECT id FROM knowledge_documents WHERE status = 'completed' "
        "AND embedding_model IS DISTINCT FROM %s",
        (model,),
    )
    stale = {row["id"] for row in await cur.fetchall()}
    demo = [b.id for b in books if b.id in stale]
    for book_id in demo:
        await queue.enqueue_processing(book_id, priority=SEED_PRIORITY, lock=SEED_LOCK)
    return demo, len(stale) - len(demo)


async def seed_progress(conn: Conn, books: tuple[SeedBook, ...] = SEED_BOOKS) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT status, count(*) AS n, sum(chunks_embedded) AS done, sum(chunks_total) AS total "
        "FROM knowledge_documents WHERE id = ANY(%s) GROUP BY status",
        ([b.id for b in books],),
    )
    out = {"documents": 0, "completed": 0, "failed": 0, "chunks_done": 0, "chunks_total": 0}
    for row in await cur.fetchall():
        out["documents"] += row["n"]
        out["chunks_done"] += int(row["done"] or 0)
        out["chunks_total"] += int(row["total"] or 0)
        if row["status"] in ("completed", "failed"):
            out[row["status"]] += row["n"]
    return out
