-- What a call costs when the price table cannot say, and the tokens of the
-- providers' prompt caches. Cache counts are part of token_in and priced
-- apart; unpriced_calls counts the answered calls whose model has no price, so
-- that a cost total that leaves them out is never taken for the whole cost.

ALTER TABLE run_attempts ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_attempts ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_attempts ADD COLUMN price_cache_read_usd_micros_per_mtok BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_attempts ADD COLUMN price_cache_write_usd_micros_per_mtok BIGINT NOT NULL DEFAULT 0;
ALTER TABLE run_attempts ADD COLUMN cost_unknown BIGINT NOT NULL DEFAULT 0;

ALTER TABLE task_runs ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_runs ADD COLUMN unpriced_calls BIGINT NOT NULL DEFAULT 0;

ALTER TABLE api_usage_daily ADD COLUMN cache_read_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_usage_daily ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_usage_daily ADD COLUMN unpriced_calls BIGINT NOT NULL DEFAULT 0;
