ALTER TABLE api_usage_daily DROP COLUMN unpriced_calls;
ALTER TABLE api_usage_daily DROP COLUMN cache_write_tokens;
ALTER TABLE api_usage_daily DROP COLUMN cache_read_tokens;

ALTER TABLE task_runs DROP COLUMN unpriced_calls;
ALTER TABLE task_runs DROP COLUMN cache_write_tokens;
ALTER TABLE task_runs DROP COLUMN cache_read_tokens;

ALTER TABLE run_attempts DROP COLUMN cost_unknown;
ALTER TABLE run_attempts DROP COLUMN price_cache_write_usd_micros_per_mtok;
ALTER TABLE run_attempts DROP COLUMN price_cache_read_usd_micros_per_mtok;
ALTER TABLE run_attempts DROP COLUMN cache_write_tokens;
ALTER TABLE run_attempts DROP COLUMN cache_read_tokens;
