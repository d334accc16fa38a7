ALTER TABLE document_chunks RESET (toast_tuple_target);
ALTER TABLE document_chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;
