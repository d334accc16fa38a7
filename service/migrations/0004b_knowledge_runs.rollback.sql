-- depends: 0003_knowledge
ALTER TABLE knowledge_documents DROP COLUMN IF EXISTS processing_run_id;
