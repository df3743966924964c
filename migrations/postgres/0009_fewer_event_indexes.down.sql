CREATE INDEX events_type_created ON events (event_type, created_at);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_run ON events (run_id, id);
CREATE INDEX events_task ON events (task_id, id);
