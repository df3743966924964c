-- Back to the providers before claude_code. Refused while an agent is still on
-- claude_code: update or delete those agents first (the older binary could not
-- run them, and the narrower constraint would not hold).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM agents WHERE model_provider = 'claude_code') THEN
    RAISE EXCEPTION 'an agent is still on the claude_code provider: update or delete those agents first'
      USING ERRCODE = 'check_violation';
  END IF;
END
$$;

ALTER TABLE agents
  DROP CONSTRAINT agents_model_provider_check,
  ADD CONSTRAINT agents_model_provider_check CHECK (model_provider IN ('anthropic', 'openai', 'echo'));
