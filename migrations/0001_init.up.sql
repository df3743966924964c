-- The whole SPEC section 3 schema. Times are INTEGER milliseconds since the
-- Unix epoch (UTC); enums are lower-case TEXT; money is INTEGER micro-dollars.

CREATE TABLE projects (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  root_path     TEXT NOT NULL UNIQUE CHECK (substr(root_path, 1, 1) = '/'),
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL,
  version       INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
);

CREATE TABLE agents (
  id              INTEGER PRIMARY KEY,
  project_id      INTEGER NOT NULL REFERENCES projects(id),
  name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  role            TEXT NOT NULL CHECK (length(role) BETWEEN 1 AND 80),
  model_provider  TEXT NOT NULL CHECK (model_provider IN ('anthropic', 'openai', 'echo')),
  model_name      TEXT NOT NULL CHECK (length(model_name) BETWEEN 1 AND 120),
  persona_prompt  TEXT NOT NULL DEFAULT '',
  enabled_tools   TEXT NOT NULL DEFAULT '',  -- comma-separated tool names
  status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
  max_concurrency INTEGER NOT NULL DEFAULT 4 CHECK (max_concurrency >= 1),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  version         INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
  UNIQUE (project_id, name)
);

CREATE TABLE tasks (
  id                INTEGER PRIMARY KEY,
  project_id        INTEGER NOT NULL REFERENCES projects(id),
  title             TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 160),
  description       TEXT NOT NULL DEFAULT '',
  status            TEXT NOT NULL DEFAULT 'todo'
                    CHECK (status IN ('todo', 'running', 'review', 'done', 'blocked', 'failed', 'cancelled')),
  priority          INTEGER NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
  assignee_agent_id INTEGER REFERENCES agents(id),
  parent_task_id    INTEGER REFERENCES tasks(id),
  due_at            INTEGER,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  version           INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
);
CREATE INDEX tasks_project_status ON tasks (project_id, status, id);
CREATE INDEX tasks_assignee ON tasks (assignee_agent_id, id);
CREATE INDEX tasks_parent ON tasks (parent_task_id);

CREATE TABLE task_dependencies (
  task_id            INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  depends_on_task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  dependency_type    TEXT NOT NULL DEFAULT 'finish_to_start'
                     CHECK (dependency_type IN ('finish_to_start', 'start_to_start',
                                                'finish_to_finish', 'start_to_finish')),
  created_at         INTEGER NOT NULL,
  PRIMARY KEY (task_id, depends_on_task_id),
  CHECK (task_id <> depends_on_task_id)
);
CREATE INDEX task_dependencies_on ON task_dependencies (depends_on_task_id);

CREATE TABLE task_runs (
  id              INTEGER PRIMARY KEY,
  task_id         INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
  agent_id        INTEGER REFERENCES agents(id),
  run_status      TEXT NOT NULL DEFAULT 'queued'
                  CHECK (run_status IN ('queued', 'running', 'succeeded', 'failed', 'retry_scheduled',
                                        'interrupted', 'cancelled')),
  attempt         INTEGER NOT NULL CHECK (attempt >= 1),
  retry_count     INTEGER NOT NULL DEFAULT 0,
  idempotency_key TEXT NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 80),
  prompt          TEXT NOT NULL DEFAULT '',
  system_prompt   TEXT NOT NULL DEFAULT '',
  max_turns       INTEGER NOT NULL DEFAULT 8,
  timeout_seconds INTEGER NOT NULL DEFAULT 90,
  provider        TEXT NOT NULL DEFAULT '',
  model           TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  ended_at        INTEGER,
  next_retry_at   INTEGER,
  error_code      TEXT NOT NULL DEFAULT '',
  error_message   TEXT NOT NULL DEFAULT '',
  token_in        INTEGER NOT NULL DEFAULT 0,
  token_out       INTEGER NOT NULL DEFAULT 0,
  cost_usd_micros INTEGER NOT NULL DEFAULT 0,
  output_text     TEXT NOT NULL DEFAULT '',
  version         INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
  UNIQUE (task_id, attempt),
  CHECK ((run_status = 'retry_scheduled') = (next_retry_at IS NOT NULL))
);
CREATE INDEX task_runs_status ON task_runs (run_status, next_retry_at);
CREATE INDEX task_runs_task ON task_runs (task_id, id);

CREATE TABLE run_attempts (
  run_id          INTEGER NOT NULL REFERENCES task_runs(id) ON DELETE CASCADE,
  n               INTEGER NOT NULL CHECK (n >= 1),
  started_at      INTEGER NOT NULL,
  ended_at        INTEGER,
  http_status     INTEGER NOT NULL DEFAULT 0,
  error_code      TEXT NOT NULL DEFAULT '',
  retry_after_ms  INTEGER NOT NULL DEFAULT 0,
  token_in        INTEGER NOT NULL DEFAULT 0,
  token_out       INTEGER NOT NULL DEFAULT 0,
  price_in_usd_micros_per_mtok  INTEGER NOT NULL DEFAULT 0,
  price_out_usd_micros_per_mtok INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, n)
);

CREATE TABLE inbox_items (
  id          INTEGER PRIMARY KEY,
  project_id  INTEGER NOT NULL REFERENCES projects(id),
  source_type TEXT NOT NULL CHECK (source_type IN ('task', 'run', 'system', 'document')),
  source_id   INTEGER NOT NULL DEFAULT 0,
  item_type   TEXT NOT NULL
              CHECK (item_type IN ('await_user_input', 'task_completed', 'incident', 'operator_note')),
  title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 160),
  content     TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  created_at  INTEGER NOT NULL,
  resolved_at INTEGER,
  resolver    TEXT NOT NULL DEFAULT '',
  user_input  TEXT NOT NULL DEFAULT '',
  version     INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1)
);
CREATE INDEX inbox_items_project ON inbox_items (project_id, status, id);
-- Deduplication: at most one open system-raised item per (item_type, source_id).
CREATE UNIQUE INDEX inbox_items_open_dedup ON inbox_items (item_type, source_id)
  WHERE status = 'open' AND item_type <> 'operator_note';

CREATE TABLE events (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- strictly increasing, never reused
  project_id  INTEGER NOT NULL DEFAULT 0,
  event_type  TEXT NOT NULL,
  task_id     INTEGER NOT NULL DEFAULT 0,
  run_id      INTEGER NOT NULL DEFAULT 0,
  trace_id    TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  payload     BLOB NOT NULL
);
CREATE INDEX events_type ON events (event_type, id);
CREATE INDEX events_task ON events (task_id, id);
CREATE INDEX events_run ON events (run_id, id);
CREATE INDEX events_created ON events (created_at);

CREATE TABLE api_usage_daily (
  provider        TEXT NOT NULL,
  model_name      TEXT NOT NULL,
  date            TEXT NOT NULL,  -- YYYY-MM-DD, UTC
  request_count   INTEGER NOT NULL DEFAULT 0,
  token_in        INTEGER NOT NULL DEFAULT 0,
  token_out       INTEGER NOT NULL DEFAULT 0,
  cost_usd_micros INTEGER NOT NULL DEFAULT 0,
  UNIQUE (provider, model_name, date)
);

CREATE TABLE alerts (
  id              INTEGER PRIMARY KEY,
  code            TEXT NOT NULL,
  severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
  dedup_key       TEXT NOT NULL,
  title           TEXT NOT NULL,
  message         TEXT NOT NULL DEFAULT '',
  task_id         INTEGER NOT NULL DEFAULT 0,
  run_id          INTEGER NOT NULL DEFAULT 0,
  status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  raise_count     INTEGER NOT NULL DEFAULT 1,
  first_raised_at INTEGER NOT NULL,
  last_raised_at  INTEGER NOT NULL,
  resolved_at     INTEGER
);
CREATE UNIQUE INDEX alerts_open_dedup ON alerts (dedup_key) WHERE status = 'open';
