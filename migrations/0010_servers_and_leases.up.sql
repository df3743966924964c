-- Several servers on one database (PostgreSQL; a SQLite file has one server,
-- but both engines keep the same schema). `servers` holds a row per server
-- process: its id (new at every start), where it answers, its version, and
-- the heartbeat it renews while it runs; `triage` and `ready` show them. A
-- run in flight is leased by the server executing it: lease_owner is that
-- server's id, lease_until the wall ms until which nobody else may take it
-- over; the owner renews it while its calls are in flight, and a run whose
-- lease passed (its server died) is interrupted and resumed by another.
CREATE TABLE servers (
  id           TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
  address      TEXT NOT NULL DEFAULT '',
  version      TEXT NOT NULL DEFAULT '',
  pid          INTEGER NOT NULL DEFAULT 0,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  stopped_at   INTEGER
);
ALTER TABLE task_runs ADD COLUMN lease_owner TEXT;
ALTER TABLE task_runs ADD COLUMN lease_until INTEGER;
CREATE INDEX task_runs_lease ON task_runs (lease_until) WHERE run_status = 'running';
