-- Practice feedback: the structured report written for a recording's completed analysis.
-- depends: 0040_recordings 0041_practice_context

-- One report per recording. It belongs to the analysis it was written from: re-analysis
-- deletes the analysis row and the report with it (ON DELETE CASCADE), and a report whose
-- analysis_created_at no longer matches the stored analysis is never served.
CREATE TABLE IF NOT EXISTS feedback_reports (
    recording_id        uuid PRIMARY KEY
                        REFERENCES recording_analyses (recording_id) ON DELETE CASCADE,
    user_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    analysis_created_at timestamptz NOT NULL,
    mode                text NOT NULL CHECK (mode IN ('template', 'llm')),
    report              jsonb NOT NULL,
    generated_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    generated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS feedback_reports_user_idx ON feedback_reports (user_id);
ALTER TABLE feedback_reports ENABLE ROW LEVEL SECURITY;
