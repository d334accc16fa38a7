-- Retrieval and answers: chat sessions/messages, the embedded cache, knowledge generations.
-- depends: 0003_knowledge

CREATE TABLE IF NOT EXISTS chat_sessions (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL DEFAULT 'New chat' CHECK (length(title) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chat_sessions_user_idx ON chat_sessions (user_id, updated_at DESC);

CREATE TABLE IF NOT EXISTS chat_messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id  uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('user', 'assistant')),
    content     text NOT NULL CHECK (length(content) <= 100000),
    -- Sources as returned to the client (ids, titles, pages, links, scores) for assistant turns.
    sources     jsonb NOT NULL DEFAULT '[]'::jsonb,
    confidence  text CHECK (confidence IS NULL OR confidence IN ('HIGH', 'MEDIUM', 'LOW')),
    provider    text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX IF NOT EXISTS chat_messages_session_idx ON chat_messages (session_id, created_at);

-- Embedded cache backend: UNLOGGED (no WAL; emptied after a crash, which a cache tolerates),
-- shared by every API instance without another server.
CREATE UNLOGGED TABLE IF NOT EXISTS rag_cache (
    key         text PRIMARY KEY,
    layer       text NOT NULL,
    value       jsonb NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rag_cache_expires_idx ON rag_cache (expires_at);
CREATE INDEX IF NOT EXISTS rag_cache_layer_idx ON rag_cache (layer);

-- Change counters for the search-result cache: a caller's scope version is the sum of the
-- generations of the scope keys it reads ('public', 'owner:<uuid>', 'all'). Generations only
-- grow, so any change inside a scope changes that sum and the old cache keys stop matching.
CREATE TABLE IF NOT EXISTS knowledge_generations (
    scope_key   text PRIMARY KEY,
    generation  bigint NOT NULL DEFAULT 0
);

CREATE OR REPLACE FUNCTION bump_knowledge_generation(keys text[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO knowledge_generations (scope_key, generation)
    SELECT DISTINCT k, 1 FROM unnest(keys) AS k WHERE k IS NOT NULL
    ON CONFLICT (scope_key) DO UPDATE SET generation = knowledge_generations.generation + 1;
$$;

CREATE OR REPLACE FUNCTION knowledge_documents_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM bump_knowledge_generation(ARRAY[
            'all',
            'owner:' || coalesce(OLD.owner_id::text, 'platform'),
            CASE WHEN OLD.is_public THEN 'public' END]);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM bump_knowledge_generation(ARRAY[
            'all',
            'owner:' || coalesce(NEW.owner_id::text, 'platform'),
            CASE WHEN NEW.is_public THEN 'public' END]);
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS knowledge_documents_generation ON knowledge_documents;
CREATE TRIGGER knowledge_documents_generation
    AFTER INSERT OR UPDATE OR DELETE ON knowledge_documents
    FOR EACH ROW EXECUTE FUNCTION knowledge_documents_changed();

-- Chunk swaps can happen without a document update; one bump per statement, not per row.
CREATE OR REPLACE FUNCTION document_chunks_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM bump_knowledge_generation(
        ARRAY['all'] || coalesce((
            SELECT array_agg(DISTINCT k) FROM (
                SELECT 'owner:' || coalesce(owner_id::text, 'platform') AS k FROM changed_rows
                UNION ALL
                SELECT 'public' FROM changed_rows WHERE is_public
            ) s), ARRAY[]::text[]));
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS document_chunks_generation_ins ON document_chunks;
CREATE TRIGGER document_chunks_generation_ins
    AFTER INSERT ON document_chunks REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_changed();
DROP TRIGGER IF EXISTS document_chunks_generation_del ON document_chunks;
CREATE TRIGGER document_chunks_generation_del
    AFTER DELETE ON document_chunks REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_changed();
DROP TRIGGER IF EXISTS document_chunks_generation_upd ON document_chunks;
CREATE TRIGGER document_chunks_generation_upd
    AFTER UPDATE ON document_chunks REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_chunks_changed();
