-- The processing run that owns a document's staging rows: only that run may swap its chunks in,
-- so a retried job and a late original can never both publish.
-- depends: 0003_knowledge
ALTER TABLE knowledge_documents ADD COLUMN IF NOT EXISTS processing_run_id uuid;
