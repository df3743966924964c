-- Back to the providers before claude_code. Refused while an agent is still on
-- claude_code: update or delete those agents first (the older binary could not
-- run them, and the narrower constraint would not hold).
CREATE TABLE migration_0006_check (
  n INTEGER CONSTRAINT no_agent_is_on_claude_code CHECK (n = 0)
);
INSERT INTO migration_0006_check SELECT count(*) FROM agents WHERE model_provider = 'claude_code';
DROP TABLE migration_0006_check;

PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (model_provider IN (''anthropic'', ''openai'', ''claude_code'', ''echo''))',
                          'CHECK (model_provider IN (''anthropic'', ''openai'', ''echo''))')
 WHERE type = 'table' AND name = 'agents';
PRAGMA writable_schema = RESET;

CREATE TABLE migration_0006_check (
  ok INTEGER CONSTRAINT agents_model_provider_is_back CHECK (ok = 1)
);
INSERT INTO migration_0006_check
  SELECT instr(sql, '''claude_code''') = 0 FROM sqlite_schema WHERE type = 'table' AND name = 'agents';
DROP TABLE migration_0006_check;
