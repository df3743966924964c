-- Agents may run on the claude_code provider (Claude Code, the `claude` CLI).
--
-- agents.model_provider has a CHECK constraint naming the providers, and SQLite
-- cannot alter a constraint. A rebuild of the table would have to name every
-- column, and would drop any column that an earlier-numbered migration added;
-- widening a CHECK changes nothing on disk, so the table's definition is
-- edited in place instead (the writable_schema procedure of SQLite's ALTER
-- TABLE page for constraint changes): every existing row still satisfies the
-- wider constraint. RESET reloads this connection's schema; the table made
-- and dropped at the end bumps the schema cookie, so any other connection
-- reloads it too, and refuses to commit unless the new definition is there.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (model_provider IN (''anthropic'', ''openai'', ''echo''))',
                          'CHECK (model_provider IN (''anthropic'', ''openai'', ''claude_code'', ''echo''))')
 WHERE type = 'table' AND name = 'agents';
PRAGMA writable_schema = RESET;

CREATE TABLE migration_0006_check (
  ok INTEGER CONSTRAINT agents_model_provider_admits_claude_code CHECK (ok = 1)
);
INSERT INTO migration_0006_check
  SELECT instr(sql, '''claude_code''') > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'agents';
DROP TABLE migration_0006_check;
