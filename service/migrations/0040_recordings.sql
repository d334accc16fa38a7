-- Practice recordings (audio in object storage) and their analysis results.
-- depends: 0001_foundation

CREATE TABLE IF NOT EXISTS recordings (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    original_filename text NOT NULL CHECK (length(original_filename) BETWEEN 1 AND 255),
    -- Decided from the file's first bytes, never from its name or declared type.
    format            text NOT NULL CHECK (format IN ('wav', 'mp3', 'm4a')),
    codec             text NOT NULL,
    storage_key       text NOT NULL UNIQUE,
    size_bytes        bigint NOT NULL CHECK (size_bytes > 0),
    sha256            text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    duration_seconds  double precision NOT NULL CHECK (duration_seconds > 0),
    sample_rate       integer NOT NULL CHECK (sample_rate > 0),
    channels          smallint NOT NULL CHECK (channels > 0),
    status            text NOT NULL DEFAULT 'uploaded'
                      CHECK (status IN ('uploaded', 'analyzing', 'completed', 'failed')),
    error_code        text,
    error_message     text,
    analysis_started_at  timestamptz,
    analysis_finished_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS recordings_user_created_idx ON recordings (user_id, created_at DESC, id);
ALTER TABLE recordings ENABLE ROW LEVEL SECURITY;

-- The latest analysis of a recording: a score per dimension for the whole recording and per
-- 3-second segment, the analyser that produced it, and what every number means.
CREATE TABLE IF NOT EXISTS recording_analyses (
    recording_id      uuid PRIMARY KEY REFERENCES recordings (id) ON DELETE CASCADE,
    analyzer          text NOT NULL,
    analyzer_version  text NOT NULL,
    duration_seconds  double precision NOT NULL,
    segment_seconds   double precision NOT NULL,
    scores            jsonb NOT NULL,  -- dimension -> score in [0, 1], or null
    reasons           jsonb NOT NULL,  -- dimension -> why its score is null
    measurements      jsonb NOT NULL,  -- name -> value in its unit
    segments          jsonb NOT NULL,  -- [{label, start_seconds, end_seconds, scores, reasons, measurements}]
    definitions       jsonb NOT NULL,  -- name -> {kind, unit, range, computation, ...}
    created_at        timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE recording_analyses ENABLE ROW LEVEL SECURITY;
