-- Lexical search with BM25 ranking, kept in step with the chunks inside the same transactions.
--
-- Text analysis (search_text, then the English parser and stemmer): music notation becomes single
-- tokens first, so "F#", "F♯", "F sharp" and "F-sharp" are all `fsharp`; "B♭ minor" and
-- "B flat minor" are `bflat bflatminor minor` ("A minor" keeps its key although "a" is a stop
-- word); catalogue numbers are one token each ("BWV 846" -> bwv846, "K. 545" -> k545,
-- "Op. 10, No. 3" -> op10 op10no3, "No. 15" -> no15); accents are folded ("Étude" = "Etude").
-- Italian terms (rubato, pianissimo) pass the English stemmer unchanged. Key letters must be
-- capitals, so "a flat hand" stays prose.
--
-- Ranking: every chunk stores its BM25 document-side term weights as a sparsevec,
--   w(t, d) = tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl)),   k1 = 1.2, b = 0.75,
-- with avgdl as of when the chunk was written, indexed by a stable hash of the lexeme
-- (search_term_id). A query is the sparsevec of its terms' IDF, ln(1 + (N - df + 0.5) / (df + 0.5))
-- from search_terms, so the inner product is the chunk's BM25 score. Candidates come from the GIN
-- index on the analysed text for the query's rarest terms within a posting budget
-- (service/search/lexical.py), so the work per query is bounded however many chunks match its
-- common words.
--
-- Statistics (search_terms.df, search_corpus) are kept by statement-level triggers on
-- document_chunks, in the transaction that publishes or deletes chunks: a search sees a document's
-- chunks, their weights and their statistics together or not at all.
-- Only core PostgreSQL and pgvector's sparsevec (pgvector >= 0.7): runs on Supabase.
-- depends: 0005_chat

CREATE OR REPLACE FUNCTION search_text(content text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
    pg_catalog.translate(
        content,
        'ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÑñÇçÝýÿ’',
        'AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOOooooooUUUUuuuuNnCcYyy'''),
    '([A-Ga-g])\s?[♯#]', '\1sharp ', 'g'),
    '([A-Ga-g])\s?♭', '\1flat ', 'g'),
    '\m([A-G])[- ]([Ss]harp|[Ff]lat)\M', '\1\2', 'g'),
    '\m([A-G])b\s+([Mm]ajor|[Mm]inor)\M', '\1flat \2', 'g'),
    '\m([A-G](sharp|flat)?)[\s-]*([Mm]ajor|[Mm]inor)\M', '\1 \1\3 \3', 'g'),
    '\m(op|opus)\.?\s*(\d+)\s*,?\s*(no|nr|number)\.?\s*(\d+)', 'op\2 op\2no\4', 'gi'),
    '\m(op|opus)\.?\s*(\d+)', 'op\2', 'gi'),
    '\m(bwv|buxwv|hwv|woo|rv)\.?\s*(\d+)', '\1\2', 'gi'),
    '\m([DLS])\.\s?(\d+)', '\1\2', 'g'),
    '\mKV?\.?\s?(\d+)', 'K\1', 'g'),
    '\m(no|nr)\.\s*(\d+)', 'no\2', 'gi')
$$;

-- Schema-qualified inside: an index expression calls it, and restores run with an empty
-- search_path.
CREATE OR REPLACE FUNCTION search_tsvector(content text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT pg_catalog.to_tsvector('pg_catalog.english'::regconfig, public.search_text(content))
$$;

-- A lexeme's dimension in the BM25 sparsevecs and its key in search_terms: the first 32 bits of
-- its MD5 (stable across versions and platforms), folded into pgvector's 1..1e9 index range.
-- Lexemes sharing one (about 5 pairs per 100,000 distinct lexemes) share a weight and a df.
CREATE OR REPLACE FUNCTION search_term_id(lexeme text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT (('x' || substr(md5(lexeme), 1, 8))::bit(32)::bigint % 999999937)::integer + 1
$$;

-- A lexeme as a tsquery operand, quoted so it is matched as it is (it is already normalised).
CREATE OR REPLACE FUNCTION search_tsquery_operand(lexeme text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
$$;

-- BM25's document length: lexeme occurrences, stop words excluded.
CREATE OR REPLACE FUNCTION search_length(tsv tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT coalesce(sum(coalesce(array_length(t.positions, 1), 1)), 0)::integer FROM unnest(tsv) AS t
$$;

CREATE OR REPLACE FUNCTION search_bm25_vector(tsv tsvector, len integer, avgdl double precision)
RETURNS sparsevec
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT format('{%s}/1000000000',
              coalesce(string_agg(id || ':' || w::real, ',' ORDER BY id), ''))::sparsevec
FROM (
    SELECT public.search_term_id(t.lexeme) AS id,
           sum(t.tf * 2.2 / (t.tf + 1.2 * (0.25 + 0.75 * len / greatest(avgdl, 1)))) AS w
    FROM (SELECT lexeme, coalesce(array_length(positions, 1), 1) AS tf FROM unnest(tsv)) AS t
    GROUP BY 1
) AS weights
$$;

-- The term ids a chunk's weights hold (what its statistics count), read back from the vector's
-- text form: pgvector has no accessor, and analysing the text again costs 25 times more.
CREATE OR REPLACE FUNCTION search_term_ids(weights sparsevec) RETURNS SETOF integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
SELECT split_part(e, ':', 1)::integer
FROM unnest(string_to_array(btrim(split_part(weights::text, '/', 1), '{}'), ',')) AS e
$$;

-- Document frequency per term id, and the corpus' size and total length (N and avgdl).
CREATE TABLE IF NOT EXISTS search_terms (
    term_id integer PRIMARY KEY,
    df      integer NOT NULL CHECK (df >= 0)
);
ALTER TABLE search_terms ENABLE ROW LEVEL SECURITY;

CREATE TABLE IF NOT EXISTS search_corpus (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    chunks    bigint NOT NULL DEFAULT 0 CHECK (chunks >= 0),
    total_len bigint NOT NULL DEFAULT 0 CHECK (total_len >= 0)
);
ALTER TABLE search_corpus ENABLE ROW LEVEL SECURITY;
INSERT INTO search_corpus (singleton) VALUES (true) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION search_avgdl() RETURNS double precision
LANGUAGE sql STABLE AS $$
SELECT CASE WHEN chunks > 0 THEN total_len::double precision / chunks END FROM search_corpus
$$;

-- The stored tsvector goes: the GIN index is built on the analysis itself, and a chunk's row
-- keeps only what ranking reads (its weights), so more rows fit a page for the lexical leg.
DROP INDEX IF EXISTS document_chunks_tsv_idx;
ALTER TABLE document_chunks DROP COLUMN IF EXISTS tsv;
ALTER TABLE document_chunks ADD COLUMN search_len integer;
ALTER TABLE document_chunks ADD COLUMN bm25 sparsevec;

-- Backfill, statistics first so the weights see the corpus' avgdl.
UPDATE document_chunks SET search_len = search_length(search_tsvector(content));
UPDATE search_corpus SET chunks = s.n, total_len = s.len
FROM (SELECT count(*) AS n, coalesce(sum(search_len), 0) AS len FROM document_chunks) AS s;
UPDATE document_chunks
SET bm25 = search_bm25_vector(search_tsvector(content), search_len, search_avgdl());
INSERT INTO search_terms (term_id, df)
SELECT t.id, count(*) FROM document_chunks AS c, search_term_ids(c.bm25) AS t(id) GROUP BY t.id;
ALTER TABLE document_chunks ALTER COLUMN search_len SET NOT NULL;
ALTER TABLE document_chunks ALTER COLUMN bm25 SET NOT NULL;
CREATE INDEX IF NOT EXISTS document_chunks_search_idx
    ON document_chunks USING gin (search_tsvector(content));

-- Per row: the text's length and BM25 weights (avgdl is read here, never written).
CREATE OR REPLACE FUNCTION document_chunks_analyse() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    analysed tsvector := search_tsvector(NEW.content);
BEGIN
    NEW.search_len := search_length(analysed);
    NEW.bm25 := search_bm25_vector(
        analysed, NEW.search_len, coalesce(search_avgdl(), NEW.search_len));
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS document_chunks_analyse ON document_chunks;
CREATE TRIGGER document_chunks_analyse
    BEFORE INSERT OR UPDATE OF content ON document_chunks
    FOR EACH ROW EXECUTE FUNCTION document_chunks_analyse();

-- Per statement: df and the corpus totals move by what the statement removed and added. Writers
-- take one transaction-scoped advisory lock first, so concurrent publishes queue for the
-- statistics in one order instead of deadlocking on term rows.
CREATE OR REPLACE FUNCTION document_chunks_search_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    after_chunks bigint;
    added bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('search_stats'));
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE search_terms AS s SET df = s.df - d.n
        FROM (SELECT t.id, count(*) AS n FROM old_rows AS o, search_term_ids(o.bm25) AS t(id)
              GROUP BY t.id) AS d
        WHERE s.term_id = d.id;
        UPDATE search_corpus SET chunks = chunks - d.n, total_len = total_len - d.len
        FROM (SELECT count(*) AS n, coalesce(sum(search_len), 0) AS len FROM old_rows) AS d;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO search_terms AS s (term_id, df)
        SELECT t.id, count(*) FROM new_rows AS r, search_term_ids(r.bm25) AS t(id)
        GROUP BY t.id ORDER BY t.id
        ON CONFLICT (term_id) DO UPDATE SET df = s.df + excluded.df;
        INSERT INTO search_corpus AS s (singleton, chunks, total_len)
        SELECT true, count(*), coalesce(sum(search_len), 0) FROM new_rows
        ON CONFLICT (singleton) DO UPDATE
        SET chunks = s.chunks + excluded.chunks, total_len = s.total_len + excluded.total_len
        RETURNING s.chunks INTO after_chunks;
        SELECT count(*) INTO added FROM new_rows;
        -- The first chunks of an empty corpus had no avgdl to be weighted with: weight them
        -- with their own now (once; later chunks read the avgdl of the chunks before them).
        IF TG_OP = 'INSERT' AND after_chunks = added THEN
            UPDATE document_chunks AS c
            SET bm25 = search_bm25_vector(search_tsvector(c.content), c.search_len, search_avgdl())
            WHERE c.id IN (SELECT id FROM new_rows);
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- TRUNCATE fires no row or statement DELETE triggers: start the statistics afresh instead.
CREATE OR REPLACE FUNCTION document_chunks_search_stats_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('search_stats'));
    DELETE FROM search_terms;
    UPDATE search_corpus SET chunks = 0, total_len = 0;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS document_chunks_search_stats_reset ON document_chunks;
CREATE TRIGGER document_chunks_search_stats_reset
    AFTER TRUNCATE ON document_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_search_stats_reset();
DROP TRIGGER IF EXISTS document_chunks_search_stats_ins ON document_chunks;
CREATE TRIGGER document_chunks_search_stats_ins
    AFTER INSERT ON document_chunks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_search_stats();
DROP TRIGGER IF EXISTS document_chunks_search_stats_del ON document_chunks;
CREATE TRIGGER document_chunks_search_stats_del
    AFTER DELETE ON document_chunks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_search_stats();
DROP TRIGGER IF EXISTS document_chunks_search_stats_upd ON document_chunks;
CREATE TRIGGER document_chunks_search_stats_upd
    AFTER UPDATE ON document_chunks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_search_stats();

-- Re-weights every chunk with today's avgdl (weights keep the avgdl of when they were written;
-- chunk sizes are bounded by the chunker, so it drifts little). Run after changing the chunk size.
CREATE OR REPLACE FUNCTION search_reweight() RETURNS bigint
LANGUAGE sql AS $$
    WITH done AS (
        UPDATE document_chunks
        SET bm25 = search_bm25_vector(search_tsvector(content), search_len, search_avgdl())
        RETURNING 1
    )
    SELECT count(*) FROM done;
$$;
