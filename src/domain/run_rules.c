/* RunTask rules (see run_rules.h). */
#include "domain/run_rules.h"

#include <string.h>

#include "common/status.h"
#include "domain/validate.h"

static int run_key_check(bbb_status *st, const char *key)
{
	size_t n = strlen(key);

	if (n == 0)
		return 0;
	if (n > RUN_KEY_MAX)
		return status_violation(st, "idempotency_key", "must be 1..%d characters, got %zu", RUN_KEY_MAX, n);
	for (size_t i = 0; i < n; i++)
		if (key[i] <= ' ' || key[i] > '~')
			return status_violation(st, "idempotency_key", "must be printable ASCII without spaces");
	return 0;
}

int run_request_check(bbb_status *st, const struct run_request *r)
{
	int provider_bad, others_bad = 0;

	provider_bad = validate_provider(st, "provider", r->rr_provider, 0) != 0;
	if (validate_text(st, "prompt", r->rr_prompt, 1, RUN_PROMPT_MAX) != 0)
		others_bad = 1;
	else if (r->rr_prompt[strspn(r->rr_prompt, " \t\r\n\v\f")] == '\0')
		/* The Messages API refuses a text without non-whitespace text: the
		 * run would fail at its first call. */
		others_bad = status_violation(st, "prompt", "must contain non-whitespace text") != 0;
	if (validate_text(st, "model", r->rr_model, 0, 120) != 0)
		others_bad = 1;
	if (validate_text(st, "system_prompt", r->rr_system_prompt, 0, RUN_PROMPT_MAX) != 0)
		others_bad = 1;
	if (r->rr_max_turns != 0 && validate_range(st, "max_turns", r->rr_max_turns, 1, RUN_MAX_MAX_TURNS) != 0)
		others_bad = 1;
	if (r->rr_timeout_s != 0 && validate_range(st, "timeout_seconds", r->rr_timeout_s, 1, RUN_MAX_TIMEOUT_S) != 0)
		others_bad = 1;
	if (r->rr_max_output_tokens != 0 &&
	    validate_range(st, "max_output_tokens", r->rr_max_output_tokens, 1, RUN_MAX_OUTPUT_TOKENS) != 0)
		others_bad = 1;
	if (run_key_check(st, r->rr_key) != 0)
		others_bad = 1;
	/* Alone, an unknown provider has a reason of its own. */
	if (provider_bad && !others_bad)
		status_fail(st, "INVALID_LLM_PROVIDER",
			    "provider must be anthropic, openai, claude_code or echo, got '%.40s'", r->rr_provider);
	return provider_bad || others_bad ? -1 : 0;
}

int run_request_decide(int64_t task_id, const struct run_brief *keyed, const struct run_brief *active,
		       enum run_decision *out, bbb_status *st)
{
	if (keyed->rb_id != 0) {
		if (keyed->rb_task_id != task_id)
			return status_fail(st, "IDEMPOTENCY_KEY_CONFLICT",
					   "the idempotency key belongs to run %lld of task %lld",
					   (long long)keyed->rb_id, (long long)keyed->rb_task_id);
		*out = RUN_REUSE_KEYED;
		return 0;
	}
	if (active->rb_id != 0 && run_is_active(active->rb_status))
		return status_fail(st, "TASK_RUN_ALREADY_ACTIVE", "task %lld already has run %lld (%s)",
				   (long long)task_id, (long long)active->rb_id, run_status_name(active->rb_status));
	*out = RUN_QUEUE_NEW;
	return 0;
}

int run_pick_model(bbb_status *st, const char *req_provider, const char *req_model, const char *agent_provider,
		   const char *agent_model, const char **provider, const char **model)
{
	*provider = req_provider[0] != '\0' ? req_provider : agent_provider;
	if (req_model[0] != '\0')
		*model = req_model;
	else if (strcmp(*provider, agent_provider) == 0)
		*model = agent_model;
	else
		*model = "";
	if ((*provider)[0] == '\0')
		return status_violation(st, "provider", "is required: the task has no assignee agent to take it from");
	return 0;
}
