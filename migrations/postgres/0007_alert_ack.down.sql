DROP INDEX alerts_status_id;
ALTER TABLE alerts DROP COLUMN resolve_note;
ALTER TABLE alerts DROP COLUMN resolved_by;
ALTER TABLE alerts DROP COLUMN ack_note;
ALTER TABLE alerts DROP COLUMN acked_by;
ALTER TABLE alerts DROP COLUMN acked_at;
ALTER TABLE alerts DROP COLUMN project_id;
