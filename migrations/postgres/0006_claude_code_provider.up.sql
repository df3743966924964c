-- Agents may run on the claude_code provider (Claude Code, the `claude` CLI).
--
-- agents.model_provider has a CHECK constraint naming the providers; SQLite
-- edits the table's definition in place, PostgreSQL replaces the constraint
-- (named in 0001), which checks the existing rows again: every one still
-- satisfies the wider constraint.
ALTER TABLE agents
  DROP CONSTRAINT agents_model_provider_check,
  ADD CONSTRAINT agents_model_provider_check
    CHECK (model_provider IN ('anthropic', 'openai', 'claude_code', 'echo'));
