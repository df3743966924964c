-- Fewer indexes on events, whose rows are the most written of the schema
-- (a CreateTask appends 2, an echo run 8): every index is one more b-tree
-- insert per event and one more dirty page, hence WAL frame, per commit.
-- No query reads events_task, events_run or events_created: replay, its
-- last-N start, the head, the oldest id and retention's cut all go by id (the
-- rowid), and the runtime's poll of status changes by (event_type, id).
-- Triage's retry count walks events_type newest first and stops at the
-- first event older than its hour (ids grow with created_at: the one writer
-- stamps and appends events in order), so events_type_created goes too.
-- events_type (event_type, id) is the one left.
DROP INDEX events_task;
DROP INDEX events_run;
DROP INDEX events_created;
DROP INDEX events_type_created;
