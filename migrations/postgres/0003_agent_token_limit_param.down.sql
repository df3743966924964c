ALTER TABLE agents DROP COLUMN token_limit_param;
