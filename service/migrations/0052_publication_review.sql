-- Public knowledge is reviewed: a teacher's `is_public` becomes a request an admin approves.
-- `is_public` keeps its meaning for every reader (visible to everyone) and is true only once a
-- document is approved; `publication` says where the request stands.
-- depends: 0004b_knowledge_runs 0005_chat

ALTER TABLE knowledge_documents
    ADD COLUMN IF NOT EXISTS publication text NOT NULL DEFAULT 'private'
        CHECK (publication IN ('private', 'pending_review', 'public', 'rejected')),
    ADD COLUMN IF NOT EXISTS publication_requested_at timestamptz,
    ADD COLUMN IF NOT EXISTS publication_reviewed_at timestamptz,
    ADD COLUMN IF NOT EXISTS publication_reviewed_by uuid REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN IF NOT EXISTS publication_note text CHECK (length(publication_note) <= 2000);

-- Platform (admin) documents that were public stay public. A teacher's self-published document
-- goes back to review: nobody has approved it yet.
UPDATE knowledge_documents SET publication = 'public' WHERE is_public AND owner_id IS NULL;
UPDATE knowledge_documents
   SET publication = 'pending_review', publication_requested_at = now(), is_public = false
 WHERE is_public AND owner_id IS NOT NULL;
UPDATE document_chunks c SET is_public = d.is_public
  FROM knowledge_documents d WHERE d.id = c.document_id AND c.is_public <> d.is_public;

ALTER TABLE knowledge_documents DROP CONSTRAINT IF EXISTS knowledge_documents_public_is_approved;
ALTER TABLE knowledge_documents ADD CONSTRAINT knowledge_documents_public_is_approved
    CHECK (is_public = (publication = 'public'));
CREATE INDEX IF NOT EXISTS knowledge_documents_review_idx
    ON knowledge_documents (publication_requested_at) WHERE publication = 'pending_review';

-- Rows written straight in SQL (demo books, evals, load-test corpora) that say is_public are
-- platform documents published by an operator: approved by definition.
CREATE OR REPLACE FUNCTION knowledge_documents_publication_default() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.is_public AND NEW.publication = 'private' THEN
        NEW.publication := 'public';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS knowledge_documents_publication_default ON knowledge_documents;
CREATE TRIGGER knowledge_documents_publication_default BEFORE INSERT ON knowledge_documents
    FOR EACH ROW EXECUTE FUNCTION knowledge_documents_publication_default();
