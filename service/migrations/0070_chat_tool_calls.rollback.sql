ALTER TABLE chat_messages DROP COLUMN IF EXISTS tool_calls;
