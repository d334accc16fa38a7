DROP TABLE IF EXISTS document_chunks_staging;
DROP TABLE IF EXISTS document_chunks;
DROP TABLE IF EXISTS knowledge_documents;
