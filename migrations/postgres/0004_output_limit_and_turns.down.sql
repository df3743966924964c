DROP TABLE run_tool_calls;
DROP TABLE run_turns;
ALTER TABLE task_runs DROP COLUMN stop_reason;
ALTER TABLE run_attempts DROP COLUMN stop_reason;
ALTER TABLE task_runs DROP COLUMN max_output_tokens;
ALTER TABLE agents DROP COLUMN max_output_tokens;
