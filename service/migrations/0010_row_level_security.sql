-- Row level security on every table in public, with no policies.
-- depends: 0005_chat
--
-- Supabase's Data API (PostgREST) serves every table in `public` to the `anon` and
-- `authenticated` roles, which Supabase grants ALL on them; with RLS on and no policy those roles
-- read and change nothing. The API connects as the tables' owner, which RLS does not restrict
-- (nothing here FORCEs it). yoyo's bookkeeping tables exist before any migration runs, so they
-- are covered here too. Every table a later migration creates enables RLS in that migration
-- (tests/foundation/test_row_level_security.py and infra's policy pack check it).

ALTER TABLE _yoyo_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE _yoyo_migration ENABLE ROW LEVEL SECURITY;
ALTER TABLE _yoyo_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE yoyo_lock ENABLE ROW LEVEL SECURITY;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE teacher_student_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE project_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE annotations ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE document_chunks_staging ENABLE ROW LEVEL SECURITY;
ALTER TABLE procrastinate_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE procrastinate_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE procrastinate_periodic_defers ENABLE ROW LEVEL SECURITY;
ALTER TABLE procrastinate_workers ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE chat_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE rag_cache ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_generations ENABLE ROW LEVEL SECURITY;
