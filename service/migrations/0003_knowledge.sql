-- Knowledge base: documents and their embedded chunks (hybrid search reads these).
-- depends: 0001_foundation

CREATE TABLE IF NOT EXISTS knowledge_documents (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- NULL owner = platform document (only admins create those).
    owner_id               uuid REFERENCES users (id) ON DELETE CASCADE,
    created_by             uuid REFERENCES users (id) ON DELETE SET NULL,
    title                  text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    source_type            text NOT NULL CHECK (source_type IN ('pdf', 'web', 'youtube', 'text')),
    source_url             text CHECK (source_url IS NULL OR length(source_url) <= 2048),
    filename               text,
    storage_key            text,
    is_public              boolean NOT NULL DEFAULT false,
    status                 text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    error_code             text,
    error_message          text,
    chunks_total           integer NOT NULL DEFAULT 0,
    chunks_embedded        integer NOT NULL DEFAULT 0,
    page_count             integer,
    embedding_model        text,
    embedding_dim          integer,
    processing_started_at  timestamptz,
    processing_finished_at timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS knowledge_documents_owner_idx ON knowledge_documents (owner_id);
CREATE INDEX IF NOT EXISTS knowledge_documents_public_idx ON knowledge_documents (is_public) WHERE is_public;

-- Live chunks. Readers only ever see a whole document: a processing run writes its chunks to
-- document_chunks_staging in batches, then swaps them in with one transaction.
CREATE TABLE IF NOT EXISTS document_chunks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    chunk_index     integer NOT NULL,
    content         text NOT NULL,
    token_count     integer NOT NULL,
    char_start      integer NOT NULL,
    char_end        integer NOT NULL,
    page_start      integer,
    page_end        integer,
    start_seconds   double precision,
    end_seconds     double precision,
    section         text,
    -- Copied from the document so access-scoped search needs no join.
    owner_id        uuid,
    is_public       boolean NOT NULL,
    embedding_model text NOT NULL,
    embedding       vector NOT NULL,
    tsv             tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT document_chunks_position_key UNIQUE (document_id, chunk_index)
);
CREATE INDEX IF NOT EXISTS document_chunks_owner_idx ON document_chunks (owner_id);
CREATE INDEX IF NOT EXISTS document_chunks_public_idx ON document_chunks (is_public) WHERE is_public;
CREATE INDEX IF NOT EXISTS document_chunks_tsv_idx ON document_chunks USING gin (tsv);

-- One HNSW index per embedding model: the column is untyped so the dimension is configuration,
-- and each index casts to its model's dimension. Queries must repeat the same cast and the
-- model predicate (as a literal) to use it. Other models get theirs at start-up
-- (service.knowledge.vector_index.ensure_vector_index).
CREATE INDEX IF NOT EXISTS document_chunks_hnsw_minilm_l6_v2
    ON document_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WITH (m = 16, ef_construction = 64)
    WHERE embedding_model = 'sentence-transformers/all-MiniLM-L6-v2';
CREATE INDEX IF NOT EXISTS document_chunks_hnsw_bge_base_en_v1_5
    ON document_chunks USING hnsw ((embedding::vector(768)) vector_cosine_ops)
    WITH (m = 16, ef_construction = 64)
    WHERE embedding_model = '@cf/baai/bge-base-en-v1.5';

CREATE TABLE IF NOT EXISTS document_chunks_staging (
    run_id          uuid NOT NULL,
    document_id     uuid NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    chunk_index     integer NOT NULL,
    content         text NOT NULL,
    token_count     integer NOT NULL,
    char_start      integer NOT NULL,
    char_end        integer NOT NULL,
    page_start      integer,
    page_end        integer,
    start_seconds   double precision,
    end_seconds     double precision,
    section         text,
    embedding_model text NOT NULL,
    embedding       vector NOT NULL,
    PRIMARY KEY (run_id, chunk_index)
);
CREATE INDEX IF NOT EXISTS document_chunks_staging_document_idx ON document_chunks_staging (document_id);
