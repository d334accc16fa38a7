-- A user's practice context (goals, constraints, repertoire, level): what the tutor fits advice to.
-- depends: 0001_foundation

CREATE TABLE IF NOT EXISTS practice_contexts (
    user_id                  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    goals                    text NOT NULL DEFAULT '' CHECK (length(goals) <= 500),
    constraints              text NOT NULL DEFAULT '' CHECK (length(constraints) <= 500),
    repertoire               text[] NOT NULL DEFAULT '{}' CHECK (cardinality(repertoire) <= 50),
    experience_level         text
                             CHECK (experience_level IN ('beginner', 'intermediate', 'advanced', 'professional')),
    practice_minutes_per_day integer CHECK (practice_minutes_per_day BETWEEN 0 AND 600),
    updated_at               timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE practice_contexts ENABLE ROW LEVEL SECURITY;
