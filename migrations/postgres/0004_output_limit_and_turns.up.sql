-- The output limit of agents and runs, why each answer ended, and the turns
-- of each run's conversation: a retried, resumed or recovered run continues
-- from its last recorded turn, and a recorded tool call never runs twice
-- (docs/runtime.md, "Durable conversations").

-- Output tokens a call may ask for: an agent's 0 leaves it to the run
-- (default 4096); a run stores the limit it uses.
ALTER TABLE agents ADD COLUMN max_output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN max_output_tokens BIGINT NOT NULL DEFAULT 4096;

-- The provider's own word for why an answer ended (end_turn, tool_use,
-- max_tokens, stop, tool_calls, length, ...): on the call's attempt, and on
-- the run for its latest answer; '' when there was no answer.
ALTER TABLE run_attempts ADD COLUMN stop_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE task_runs ADD COLUMN stop_reason TEXT NOT NULL DEFAULT '';

-- One row per answer the run's conversation kept, in order: the assistant's
-- text, and the user text sent after it (follow_up: the request to continue
-- a cut answer), '' when none. The prompt and the system prompt are the
-- run's own columns.
CREATE TABLE run_turns (
  run_id      BIGINT NOT NULL REFERENCES task_runs(id) ON DELETE CASCADE,
  n           BIGINT NOT NULL CHECK (n >= 1),
  attempt_n   BIGINT NOT NULL,  -- the run_attempts row that brought the answer
  text        TEXT NOT NULL DEFAULT '',
  stop_reason TEXT NOT NULL DEFAULT '',
  follow_up   TEXT NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (run_id, n)
);

-- The tool calls of a turn, in the answer's order, and their results. A row
-- is written before its tool runs; result NULL means the tool was started
-- and its result never recorded (the server stopped in between): it is not
-- run again, the model is told its outcome is unknown.
CREATE TABLE run_tool_calls (
  run_id      BIGINT NOT NULL,
  turn        BIGINT NOT NULL,
  k           BIGINT NOT NULL CHECK (k >= 1),
  call_id     TEXT NOT NULL,
  name        TEXT NOT NULL,
  arguments   TEXT NOT NULL,
  result      TEXT,
  is_error    BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, turn, k),
  FOREIGN KEY (run_id, turn) REFERENCES run_turns (run_id, n) ON DELETE CASCADE
);
