-- Rate limits shared by every API instance: sliding-window counters (the `limits` library's
-- algorithm, service/ratelimit/) and the login backoff state.
-- depends: 0005_chat

-- UNLOGGED like rag_cache: counted on every request, so no WAL; a crash empties it, which at
-- worst hands every caller a fresh window.
CREATE UNLOGGED TABLE IF NOT EXISTS rate_limit_counters (
    key        text PRIMARY KEY,
    count      integer NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_limit_counters_expires_idx ON rate_limit_counters (expires_at);
ALTER TABLE rate_limit_counters ENABLE ROW LEVEL SECURITY;

-- Consecutive failed logins per account (lower-cased email, registered or not) and per client
-- IP. Logged: a crash must not wipe an attacker's backoff.
CREATE TABLE IF NOT EXISTS login_failures (
    key             text PRIMARY KEY,
    failures        integer NOT NULL,
    last_failure_at timestamptz NOT NULL,
    blocked_until   timestamptz
);
CREATE INDEX IF NOT EXISTS login_failures_last_idx ON login_failures (last_failure_at);
ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
