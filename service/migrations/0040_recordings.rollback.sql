DROP TABLE IF EXISTS recording_analyses;
DROP TABLE IF EXISTS recordings;
