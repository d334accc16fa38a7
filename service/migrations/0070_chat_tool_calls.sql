-- The tutor's tool calls and their results, kept with the assistant message they led to, so a
-- session replays exactly what the tutor looked up.
-- depends: 0005_chat

ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS tool_calls jsonb NOT NULL DEFAULT '[]'::jsonb;
