-- Teacher-student links need the student's consent: a teacher's request is addressed to an
-- email (never resolved to an account when it is made, so it reveals nothing about who is
-- registered) and becomes a link in teacher_student_links only when that student accepts.
-- depends: 0001_foundation

CREATE TABLE IF NOT EXISTS link_requests (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    teacher_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    student_email text NOT NULL CHECK (length(student_email) BETWEEN 3 AND 320),
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'accepted', 'declined', 'cancelled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    responded_at  timestamptz,
    link_id       uuid REFERENCES teacher_student_links (id) ON DELETE SET NULL
);
-- One open request per teacher and address; answered ones stay as history.
CREATE UNIQUE INDEX IF NOT EXISTS link_requests_pending_key
    ON link_requests (teacher_id, lower(student_email)) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS link_requests_email_idx
    ON link_requests (lower(student_email)) WHERE status = 'pending';
ALTER TABLE link_requests ENABLE ROW LEVEL SECURITY;
