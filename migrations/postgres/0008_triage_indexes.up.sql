-- Indexes for `beebeebrain triage` (AdminService/Triage), so that its
-- checklist costs a few index range scans, not table scans:
-- run status changes of the last hour (the retries it counts),
-- the latest alert of a code (DB_LOCKED), and the runs that ended with an
-- error code in a time window (WORKSPACE_PERMISSION_DENIED). The last one is
-- partial: runs without an error are most runs and never asked for.
CREATE INDEX events_type_created ON events (event_type, created_at);
CREATE INDEX alerts_code_id ON alerts (code, id);
CREATE INDEX task_runs_error_ended ON task_runs (error_code, ended_at) WHERE error_code <> '';
