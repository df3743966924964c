-- The reply cache shared by the servers of one PostgreSQL database: a row per
-- mutating call sent with a request_id (method and request_id, as the
-- in-memory cache keys it), claimed by the server that runs it (owner, state
-- 'running', expires_at the claim's lease, renewed by its owner while the
-- call runs) and then holding its packed RpcResponse (state 'done',
-- expires_at the end of the 10 minutes it is kept). A copy of the call that
-- lands on another server answers that reply, waits for it, or takes the
-- claim over once its lease passed (its server died). SQLite keeps replies
-- in memory only (one server owns the file): this table stays empty there
-- and exists so that both engines have the same schema at every version.
CREATE TABLE replies (
  request_id TEXT NOT NULL,
  method     TEXT NOT NULL,
  owner      TEXT NOT NULL,
  state      TEXT NOT NULL CHECK (state IN ('running', 'done')),
  reply      BYTEA,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (request_id, method)
);
CREATE INDEX replies_expires ON replies (expires_at);
CREATE INDEX replies_running ON replies (owner) WHERE state = 'running';
