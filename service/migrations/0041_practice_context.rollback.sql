DROP TABLE IF EXISTS practice_contexts;
