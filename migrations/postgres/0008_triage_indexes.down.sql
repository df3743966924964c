DROP INDEX task_runs_error_ended;
DROP INDEX alerts_code_id;
DROP INDEX events_type_created;
