-- Idempotency of agent tool calls, run logs served from their own indexed
-- table, and small server-wide counters.

-- First result of each ToolService call, by idempotency key: a repeated key
-- returns it again with idempotency_hit = true.
CREATE TABLE tool_calls (
  idempotency_key TEXT PRIMARY KEY CHECK (length(idempotency_key) BETWEEN 1 AND 120),
  tool            TEXT NOT NULL,
  task_id         INTEGER NOT NULL,
  response        BLOB NOT NULL,
  created_at      INTEGER NOT NULL
);

-- Log lines of runs and tools (each also written as a run.log event).
CREATE TABLE run_logs (
  id          INTEGER PRIMARY KEY,
  project_id  INTEGER NOT NULL,
  task_id     INTEGER NOT NULL DEFAULT 0,
  run_id      INTEGER NOT NULL DEFAULT 0,
  level       TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
  source      TEXT NOT NULL DEFAULT '',
  message     TEXT NOT NULL,
  trace_id    TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  event_id    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX run_logs_project ON run_logs (project_id, id);
CREATE INDEX run_logs_task ON run_logs (task_id, id);
CREATE INDEX run_logs_run ON run_logs (run_id, id);

-- Named integers: events_pruned_through (highest event id removed by retention).
CREATE TABLE server_state (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
