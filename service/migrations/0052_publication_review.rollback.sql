DROP TRIGGER IF EXISTS knowledge_documents_publication_default ON knowledge_documents;
DROP FUNCTION IF EXISTS knowledge_documents_publication_default();
DROP INDEX IF EXISTS knowledge_documents_review_idx;
ALTER TABLE knowledge_documents DROP CONSTRAINT IF EXISTS knowledge_documents_public_is_approved;
ALTER TABLE knowledge_documents
    DROP COLUMN IF EXISTS publication_note,
    DROP COLUMN IF EXISTS publication_reviewed_by,
    DROP COLUMN IF EXISTS publication_reviewed_at,
    DROP COLUMN IF EXISTS publication_requested_at,
    DROP COLUMN IF EXISTS publication;
