-- Keep each chunk's embedding in its row.
-- depends: 0020_lexical_search
--
-- A chunk row (embedding, text, BM25 weights) is over the 2 kB at which PostgreSQL starts moving
-- values out of line, and pgvector's columns default to EXTERNAL storage, so the embedding went
-- to the TOAST table first: every exact distance in a small scope then read it back through the
-- TOAST index. At 100k chunks that was about 3 of every 4 microseconds per row of the exact
-- vector leg (a 2,600-row scope: 13.6 ms, 5.0 ms with the embedding in the row;
-- loadtest/results/retrieval-eval.md). MAIN keeps the embedding in the row unless the row can't
-- fit a page, and a tuple target of a full page lets a row up to 8 kB stay whole (a 768-dim
-- embedding with a long chunk is about 6 kB).
--
-- Only rows written from now on are laid out this way; existing ones move on their next rewrite
-- (re-ingestion, or VACUUM FULL in a maintenance window: it locks the table).
ALTER TABLE document_chunks ALTER COLUMN embedding SET STORAGE MAIN;
ALTER TABLE document_chunks SET (toast_tuple_target = 8160);
