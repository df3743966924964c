-- The output-limit parameter an agent's openai requests use: '' lets the
-- runtime choose by model (max_completion_tokens for the reasoning families
-- and on api.openai.com, max_tokens elsewhere); the other two force one.
ALTER TABLE agents ADD COLUMN token_limit_param TEXT NOT NULL DEFAULT ''
  CHECK (token_limit_param IN ('', 'max_tokens', 'max_completion_tokens'));
