DROP TABLE server_state;
DROP TABLE run_logs;
DROP TABLE tool_calls;
