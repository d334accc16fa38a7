"""The lexical leg: music-aware analysis on real passages, BM25 against a reference, bounded work,
and statistics that move with the chunks in the publishing transaction."""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from devtools.evals import lexical_alternatives as alt
from service.access.scope import AccessScope
from service.repositories import knowledge as repo
from service.search.lexical import (
    exhaustive_candidates,
    lexical_candidates,
    lexical_leg,
    scope_candidates,
)
from service.search.plan import VectorPlan
from tests.conftest import CORPUS_DIR
from tests.retrieval.seed import MODEL, vec_literal

BOOKS = {
    "hofmann": "hofmann-piano-playing/hofmann_piano_playing.utf8.txt",
    "brower": "brower-piano-mastery/brower_piano_mastery.utf8.txt",
    "cooke": "cooke-great-pianists/cooke_great_pianists.utf8.txt",
}
UNIT = [1.0] + [0.0] * 383


def _lexemes(conn: psycopg.Connection, text: str) -> set[str]:
    rows = conn.execute("SELECT lexeme FROM unnest(search_tsvector(%s))", (text,)).fetchall()
    return {r[0] for r in rows}


# (text as written, lexemes its analysis must hold, lexemes it must not hold)
ANALYSIS = [
    ("BWV 846", {"bwv846"}, set()),
    ("Prelude in C major (BWV846)", {"bwv846", "cmajor", "prelud"}, set()),
    ("Op. 10 No. 3", {"op10", "op10no3"}, set()),
    ("Chopin's Etudes in C minor, Opus 10, No. 12", {"op10", "op10no12", "cminor"}, {"op10no3"}),
    ("opus. 28, No. 2", {"op28", "op28no2"}, set()),
    ("K. 545", {"k545"}, set()),
    ("KV 545", {"k545"}, set()),
    ("F# minor", {"fsharp", "fsharpminor", "minor"}, {"fminor"}),
    ("F♯ minor", {"fsharp", "fsharpminor"}, set()),
    ("F sharp minor", {"fsharp", "fsharpminor"}, set()),
    ("F-sharp minor", {"fsharp", "fsharpminor"}, set()),
    ("F minor", {"fminor"}, {"fsharpminor"}),
    ("B♭ minor", {"bflat", "bflatminor"}, set()),
    ("B flat minor", {"bflat", "bflatminor"}, set()),
    ("Bb minor", {"bflat", "bflatminor"}, set()),
    ("A minor", {"aminor"}, set()),
    ("keep a flat hand", {"flat", "hand"}, {"aflat"}),
    ("No. 15", {"no15"}, set()),
    ("Étude", {"etud"}, set()),
    ("tempo rubato", {"rubato"}, set()),
    ("play it pianissimo", {"pianissimo"}, {"piano"}),
    ("fortissimo", {"fortissimo"}, set()),
]


@pytest.mark.parametrize(("text", "must", "must_not"), ANALYSIS, ids=[a[0] for a in ANALYSIS])
def test_music_tokens_survive_analysis(
    db: psycopg.Connection, text: str, must: set[str], must_not: set[str]
) -> None:
    lexemes = _lexemes(db, text)
    assert must <= lexemes, lexemes
    assert not (must_not & lexemes), lexemes


def _paragraphs(text: str) -> list[str]:
    return [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _corpus_paragraphs() -> dict[str, list[str]]:
    return {
        name: [p for p in _paragraphs((CORPUS_DIR / path).read_text()) if len(p) >= 120]
        for name, path in BOOKS.items()
    }


def _dbpedia(title_part: str) -> str:
    for line in (CORPUS_DIR / "dbpedia-entity-subset" / "corpus.jsonl").read_text().splitlines():
        if title_part in line:
            entry = json.loads(line)
            return f"{entry['title']}. {entry['text']}"
    raise AssertionError(f"{title_part} not in the DBpedia subset")


def _containing(paragraphs: dict[str, list[str]], needle: str) -> str:
    found = [p for ps in paragraphs.values() for p in ps if needle in p]
    assert found, f"no passage says {needle!r}"
    return found[0]


# Query as a student types it, and a phrase only the passage that should come first contains
# (written differently from the query).
MUSIC_QUERIES = [
    ("Which Chopin etude is Op. 10 No. 12?", "C minor, Opus 10, No. 12"),
    ("Prelude No. 15 in C# minor", "Prelude No. 15 is the movement in C-sharp minor"),
    ("Schumann's F# minor sonata", "Sonata in F sharp minor"),
    ("the doppio movimento of Chopin's nocturne in F♯", "Nocturne in F-sharp, after the _Doppio_"),
    ("Chopin's B♭ minor sonata", "B flat minor"),
    ("Polonaise Op. 26 No. 1, measure seven", "Polonaise, Opus 26, No. 1"),
    ("what is tempo rubato", "rubato"),
    ("a fine pianissimo touch", "_pianissimo_ touch"),
    ("Bach cantata BWV 14", "BWV 14"),
]


def _public_chunks(
    conn: psycopg.Connection, texts: Iterable[str], title: str = "t", owner: str | None = None
) -> None:
    """One completed document holding these texts as chunks (one COPY statement): public, or
    the owner's own."""
    doc = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO knowledge_documents (id, owner_id, title, source_type, is_public, status) "
        "VALUES (%s, %s, %s, 'text', %s, 'completed')",
        (doc, owner, title, owner is None),
    )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY document_chunks (document_id, chunk_index, content, token_count, char_start, "
            "char_end, owner_id, is_public, embedding_model, embedding) FROM STDIN"
        ) as copy,
    ):
        for i, text in enumerate(texts):
            copy.write_row((doc, i, text, 1, 0, 1, owner, owner is None, MODEL, vec_literal(UNIT)))


def _load_passages(conn: psycopg.Connection) -> dict[int, str]:
    """Real passages for each query plus a thousand other paragraphs of the same books."""
    paragraphs = _corpus_paragraphs()
    wanted = [
        _dbpedia("BWV 14") if needle == "BWV 14" else _containing(paragraphs, needle)
        for _, needle in MUSIC_QUERIES
    ]
    others = [p for ps in paragraphs.values() for p in ps[::3]][:1000]
    _public_chunks(conn, dict.fromkeys([*wanted, *others]), "books")
    return dict(conn.execute("SELECT id, content FROM document_chunks").fetchall())


def _lexical(url: str, query: str, *, budget: int = 2000, k: int = 10) -> list[tuple[int, float]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            lexical_candidates(MODEL, AccessScope(True)),
            {"qt": query, "budget": budget, "postings": budget, "fk": k},
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def test_music_queries_find_the_passage_that_says_it(db: psycopg.Connection, clean_db: str) -> None:
    content = _load_passages(db)
    misses = {}
    for query, needle in MUSIC_QUERIES:
        top = _lexical(clean_db, query)
        if not top or needle.lower() not in content[top[0][0]].lower():
            misses[query] = [content[cid][:80] for cid, _ in top[:3]]
    assert not misses, misses


def _reference_bm25(conn: psycopg.Connection, query: str) -> dict[int, float]:
    """BM25 from the raw analysed text, counted here (k1 = 1.2, b = 0.75, Lucene's IDF)."""
    rows = conn.execute(
        "SELECT c.id, t.lexeme, coalesce(array_length(t.positions, 1), 1) "
        "FROM document_chunks AS c, unnest(search_tsvector(c.content)) AS t"
    ).fetchall()
    tf: dict[int, Counter[str]] = {}
    for cid, lexeme, n in rows:
        tf.setdefault(cid, Counter())[lexeme] = n
    n_docs = len(tf)
    avgdl = sum(sum(c.values()) for c in tf.values()) / n_docs
    df = Counter(lexeme for c in tf.values() for lexeme in c)
    terms = _lexemes(conn, query)
    scores = {}
    for cid, counts in tf.items():
        length = sum(counts.values())
        score = 0.0
        for t in terms:
            if counts[t]:
                idf = math.log(1 + (n_docs - df[t] + 0.5) / (df[t] + 0.5))
                score += idf * counts[t] * 2.2 / (counts[t] + 1.2 * (0.25 + 0.75 * length / avgdl))
        if score > 0:
            scores[cid] = score
    return scores


def test_bm25_scores_match_a_reference(db: psycopg.Connection, clean_db: str) -> None:
    words = ["legato", "scale", "pedal", "arpeggio", "octave", "trill", "chord", "wrist"]
    texts = []
    for i in range(60):
        # Varying term frequencies and lengths, so saturation and normalisation both matter.
        picked = [words[j] for j in range(len(words)) if (i >> (j % 6)) & 1] or ["metronome"]
        texts.append(" ".join(picked * (1 + i % 3) + ["practice"] * (i % 7)))
    _public_chunks(db, texts)
    for query in ["legato pedal", "trill octave wrist practice", "arpeggio"]:
        expected = _reference_bm25(db, query)
        got = _lexical(clean_db, query, k=100)
        assert [cid for cid, _ in got] == sorted(expected, key=lambda c: (-expected[c], c))
        for cid, score in got:
            assert score == pytest.approx(expected[cid], rel=1e-4)
        # Without a budget (every matching chunk scored) the ranking is the same.
        with psycopg.connect(clean_db) as conn:
            full = conn.execute(
                exhaustive_candidates(MODEL, AccessScope(True)), {"qt": query, "fk": 100}
            ).fetchall()
        assert [r[0] for r in full] == [cid for cid, _ in got]


def test_a_small_scope_is_scored_whole_and_exactly(db: psycopg.Connection) -> None:
    """Where the vector leg is exact (a small scope), the lexical leg scores every chunk in scope
    instead of reading postings: the same ranking and scores as BM25 over every match in the
    scope, and nothing from outside it. Larger scopes keep the postings budget."""
    mine, other = (str(uuid.uuid4()) for _ in range(2))
    for uid in (mine, other):
        db.execute(
            "INSERT INTO users (id, email, display_name, role) VALUES (%s, %s, 't', 'teacher')",
            (uid, f"{uid}@example.com"),
        )
    words = ["legato", "scale", "pedal", "arpeggio", "octave", "trill", "chord", "wrist"]

    def texts(offset: int, n: int) -> list[str]:
        return [" ".join(words[(i + j) % len(words)] for j in range(1 + i % 5)) for i in
                range(offset, offset + n)]  # fmt: skip

    _public_chunks(db, texts(0, 30))
    _public_chunks(db, texts(3, 40), owner=mine)
    _public_chunks(db, texts(5, 400), owner=other)
    db.execute("ANALYZE document_chunks")
    scope = AccessScope(False, frozenset({uuid.UUID(mine)}))
    visible = {r[0] for r in db.execute(
        "SELECT id FROM document_chunks WHERE is_public OR owner_id = %s", (mine,)
    )}  # fmt: skip
    assert lexical_leg(MODEL, scope, VectorPlan("exact", 40)) == scope_candidates(MODEL, scope)
    assert lexical_leg(MODEL, scope, VectorPlan("iterative", 40)) == lexical_candidates(
        MODEL, scope
    )
    for query in ["legato pedal", "trill octave wrist", "arpeggio", "nocturne"]:
        args = {"qt": query, "fk": 100}
        got = db.execute(scope_candidates(MODEL, scope), args).fetchall()
        full = db.execute(exhaustive_candidates(MODEL, scope), args).fetchall()
        assert [r[0] for r in got] == [r[0] for r in full]
        assert [r[1] for r in got] == pytest.approx([r[1] for r in full], rel=1e-6)
        assert {r[0] for r in got} <= visible
        assert bool(got) == (query != "nocturne")


def _scanned_rows(plan: dict[str, Any]) -> int:
    """Rows the scans of document_chunks handed up (heap rows read for the lexical leg)."""
    total = 0
    if plan.get("Relation Name") == "document_chunks":
        total += int(plan.get("Actual Rows", 0))
    for child in plan.get("Plans", []):
        total += _scanned_rows(child)
    return total


def test_lexical_work_is_bounded_by_the_budget(db: psycopg.Connection, clean_db: str) -> None:
    _public_chunks(
        db,
        (
            f"scale practice every day, exercise {i}" + (" arpeggio" if i % 1000 == 7 else "")
            for i in range(3000)
        ),
    )
    db.execute("ANALYZE document_chunks")
    budget = 100

    def explain(query: str) -> tuple[int, list[int]]:
        sql = lexical_candidates(MODEL, AccessScope(True)).as_string(db)
        params = {"qt": query, "budget": budget, "postings": budget, "fk": 5}
        plan = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchone()
        assert plan is not None
        top = db.execute(sql, params).fetchall()
        return _scanned_rows(plan[0][0]["Plan"]), [r[0] for r in top]

    # 3,000 chunks match "scale" and "practice", 3 match "arpeggio": only the rare term's
    # postings are read, and the chunks holding all three words come first.
    scanned, top = explain("arpeggio scale practice")
    assert scanned <= 3 + 5
    arpeggio = [
        r[0] for r in db.execute("SELECT id FROM document_chunks WHERE content LIKE '%%arpeggio'")
    ]
    assert sorted(top[:3]) == sorted(arpeggio)
    # Every word common: at most `budget` chunks are read, never all 3,000 matches.
    scanned, top = explain("scale practice")
    assert 0 < scanned <= budget
    assert len(top) == 5


def test_with_every_word_common_the_candidates_need_not_hold_every_word(
    db: psycopg.Connection, clean_db: str
) -> None:
    """Every query word is in more chunks than the budget allows, so the leg reads the chunks
    holding its rarest words together. The best chunk here lacks the commonest word: it must
    still be found, which requiring every word would miss."""
    texts = []
    for i in range(3000):
        words = [w for w, m in (("scale", 2), ("practice", 3), ("legato", 5)) if i % m == 0]
        texts.append(f"{' '.join(words) or 'rest'} exercise {i}")
    texts.append("legato practice legato practice exercise best")
    _public_chunks(db, texts)
    db.execute("ANALYZE document_chunks")
    query = "scale practice legato"
    best = db.execute("SELECT id FROM document_chunks WHERE content LIKE '%%best'").fetchone()
    assert best is not None
    # The reference (BM25 over every match) ranks the chunk without "scale" first.
    exhaustive = db.execute(
        exhaustive_candidates(MODEL, AccessScope(True)).as_string(db), {"qt": query, "fk": 5}
    ).fetchall()
    assert exhaustive[0][0] == best[0]
    # 600 chunks hold "legato", 1,000 "practice", 1,500 "scale"; a budget of 400 fits "legato"
    # with "practice" (about 3,001 * 600/3,001 * 1,001/3,001 = 200 together), not "legato" alone.
    top = [cid for cid, _ in _lexical(clean_db, query, budget=400, k=5)]
    assert top[0] == best[0]
    assert top == [r[0] for r in exhaustive]


def test_search_sees_a_document_exactly_when_it_is_published(
    db: psycopg.Connection, clean_db: str
) -> None:
    """Chunks, weights and statistics change in the publishing transaction, and go with a delete."""
    baseline = "Hanon exercises for evenness of the fingers, played slowly and legato."
    doc_id, other = uuid.uuid4(), uuid.uuid4()
    db.execute(
        "INSERT INTO knowledge_documents (id, title, source_type, is_public, status) "
        "VALUES (%s, 'warm-up', 'text', true, 'completed')",
        (other,),
    )
    db.execute(
        "INSERT INTO document_chunks (document_id, chunk_index, content, token_count, char_start, "
        "char_end, is_public, embedding_model, embedding) VALUES (%s, 0, %s, 1, 0, 1, true, %s, %s)",
        (other, baseline, MODEL, vec_literal(UNIT)),
    )
    db.execute(
        "INSERT INTO knowledge_documents (id, title, source_type, is_public) "
        "VALUES (%s, 'new book', 'text', true)",
        (doc_id,),
    )

    def stats() -> tuple[dict[int, int], tuple[int, int]]:
        terms: dict[int, int] = dict(
            db.execute("SELECT term_id, df FROM search_terms WHERE df > 0").fetchall()
        )
        corpus = db.execute("SELECT chunks, total_len FROM search_corpus").fetchone()
        assert corpus is not None
        return terms, (corpus[0], corpus[1])

    before = stats()
    query = "Czerny's Op. 740 in F# minor"

    async def stage_then_publish() -> None:
        from service.knowledge.chunker import Chunk

        chunk = Chunk(0, "Czerny, Opus 740, the F sharp minor study.", 9, 0, 43, None, None,
                      None, None, None)  # fmt: skip
        async with await psycopg.AsyncConnection.connect(
            clean_db, autocommit=True, row_factory=dict_row
        ) as writer:
            run = uuid.uuid4()
            assert await repo.begin_run(writer, doc_id, run) is not None
            assert await repo.stage_chunks(writer, doc_id, run, MODEL, [chunk], [UNIT])
            # Staged, not published: invisible, and the statistics haven't moved.
            assert _lexical(clean_db, query) == []
            assert stats() == before
            async with writer.transaction():
                assert await repo.publish_run(writer, doc_id, run, MODEL, 384, None)
                # Published inside a transaction that hasn't committed: still invisible.
                status = db.execute(
                    "SELECT status FROM knowledge_documents WHERE id = %s", (doc_id,)
                ).fetchone()
                assert status is not None and status[0] == "processing"
                assert _lexical(clean_db, query) == []
                assert stats() == before

    asyncio.run(stage_then_publish())
    status = db.execute(
        "SELECT status FROM knowledge_documents WHERE id = %s", (doc_id,)
    ).fetchone()
    assert status is not None and status[0] == "completed"
    found = _lexical(clean_db, query)
    new_chunk = db.execute(
        "SELECT id FROM document_chunks WHERE document_id = %s", (doc_id,)
    ).fetchone()
    assert new_chunk is not None and [cid for cid, _ in found] == [new_chunk[0]]
    terms, corpus = stats()
    ids: dict[str, int] = dict(
        db.execute("SELECT t, search_term_id(t) FROM unnest(ARRAY['op740', 'fsharpminor']) AS t")
    )
    assert terms[ids["op740"]] == 1 and terms[ids["fsharpminor"]] == 1
    assert corpus[0] == before[1][0] + 1

    db.execute("DELETE FROM knowledge_documents WHERE id = %s", (doc_id,))
    assert _lexical(clean_db, query) == []
    assert stats() == before


def test_the_index_ranked_alternatives_find_exact_bm25_when_unbounded(
    db: psycopg.Connection,
) -> None:
    """The two alternatives `python -m devtools.evals.lexical_alternatives` measures against the
    budget (sparse HNSW over the BM25 vectors; impact-ordered postings) rank exactly as BM25 over
    every match when nothing bounds them, so the recall the study reports is their pruning's,
    not a fault in their SQL. Their structures come and go with the study."""
    mine = str(uuid.uuid4())
    db.execute(
        "INSERT INTO users (id, email, display_name, role) VALUES (%s, %s, 't', 'teacher')",
        (mine, f"{mine}@example.com"),
    )
    words = ["legato", "scale", "pedal", "arpeggio", "octave", "trill", "chord", "wrist"]
    texts = [
        " ".join(w for j, w in enumerate(words) if (i >> (j % 6)) & 1) + " practice" * (i % 4)
        for i in range(1, 60)
    ]
    _public_chunks(db, texts[:30])
    _public_chunks(db, texts[30:], owner=mine)
    built = alt.build(db)
    try:
        assert set(built) == {"sparse_hnsw", "impact_postings"}
        assert all(b["bytes"] > 0 for b in built.values())
        for scope in (AccessScope(True), AccessScope(False, frozenset({uuid.UUID(mine)}))):
            # (statement, params, session settings): unbounded, and the impact leg with a
            # budget of one chunk, so its own postings must find the rest.
            ways = [
                (alt.sparse_hnsw_candidates(MODEL, scope), {"lim": 1000},
                 ["SET hnsw.ef_search = 1000", "SET hnsw.iterative_scan = relaxed_order"]),
                (alt.impact_union_candidates(MODEL, scope),
                 {"budget": 1, "postings": 1, "n": 1000, "m": 1000}, []),
            ]  # fmt: skip
            for query in ["legato pedal", "trill octave wrist practice", "arpeggio"]:
                args = {"qt": query, "fk": 100}
                full = db.execute(exhaustive_candidates(MODEL, scope), args).fetchall()
                assert full
                for statement, params, settings in ways:
                    for setting in settings:
                        db.execute(setting.encode())
                    got = db.execute(statement, {**args, **params}).fetchall()
                    db.execute("RESET ALL")
                    matching = [r for r in got if r[1] > 0]
                    assert [r[0] for r in matching] == [r[0] for r in full], statement
                    assert [r[1] for r in matching] == pytest.approx([r[1] for r in full])
    finally:
        alt.drop(db)
    left = db.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'lexical_alt_%%'"
    ).fetchone()
    assert left == (0,)
