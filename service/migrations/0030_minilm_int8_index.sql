-- The HNSW index of the default local model (all-MiniLM-L6-v2 with int8 weights on ONNX Runtime),
-- like 0003's for the two models known then, so chunks written straight into document_chunks (the
-- load-test corpus, restores) are indexed before any ingestion run creates it at start-up.
CREATE INDEX IF NOT EXISTS document_chunks_hnsw_minilm_l6_v2_onnx_int8
    ON document_chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WITH (m = 16, ef_construction = 64)
    WHERE embedding_model = 'sentence-transformers/all-MiniLM-L6-v2-onnx-int8';
