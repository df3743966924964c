-- Circuit breakers shared by the servers of one database (PostgreSQL; a
-- SQLite file has one server and keeps the table empty, but both engines
-- keep the same schema). A row per provider endpoint ("anthropic
-- https://api.anthropic.com"), written by the server whose breaker opened,
-- re-opened after a failed probe, or closed after a successful one, and read
-- by every server at least once a second: each opens its own breaker until
-- open_until (wall ms). cooldown_ms is the current cool-down (it doubles
-- after each failed probe). Half-open, the one server that takes the probe
-- lease (probe_owner, until probe_until) sends the probe; opened_by is the
-- server that opened it (its id in servers), opens counts the openings and
-- re-openings.
CREATE TABLE breakers (
  endpoint    TEXT PRIMARY KEY CHECK (length(endpoint) BETWEEN 1 AND 300),
  state       TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  open_until  BIGINT NOT NULL DEFAULT 0,
  cooldown_ms BIGINT NOT NULL DEFAULT 0,
  probe_owner TEXT,
  probe_until BIGINT,
  opened_by   TEXT NOT NULL DEFAULT '',
  opens       BIGINT NOT NULL DEFAULT 0,
  updated_at  BIGINT NOT NULL
);
