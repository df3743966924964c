-- Alerts for the operator: the project an alert concerns (0: the whole
-- server), who acknowledged it and when (an acknowledged alert stays open
-- until its cause is gone), and who resolved it by hand, with their notes.
-- An alert the server resolved itself keeps resolved_by ''.
ALTER TABLE alerts ADD COLUMN project_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN acked_at BIGINT;
ALTER TABLE alerts ADD COLUMN acked_by TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN ack_note TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN resolve_note TEXT NOT NULL DEFAULT '';
CREATE INDEX alerts_status_id ON alerts (status, id);
