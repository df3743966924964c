/*
 * RunTask rules (docs/protocol.md, Resources and Services): what a request for a run must hold,
 * whether it reuses a run or queues a new one, and which provider and model
 * the run gets. Pure: the service loads the runs and the agent involved.
 */
#ifndef BBB_RUN_RULES_H
#define BBB_RUN_RULES_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/task_state.h"

#define RUN_DEFAULT_MAX_TURNS 8
#define RUN_MAX_MAX_TURNS 100
#define RUN_DEFAULT_TIMEOUT_S 90
#define RUN_MAX_TIMEOUT_S 600
#define RUN_KEY_MAX 80
#define RUN_PROMPT_MAX 200000
/* Output tokens one call asks for (max_tokens): the default when neither the
 * request nor the agent sets it, and the largest accepted. */
#define RUN_DEFAULT_MAX_OUTPUT_TOKENS 4096
#define RUN_MAX_OUTPUT_TOKENS 200000

struct run_request {
	const char *rr_prompt;
	const char *rr_provider; /* "" = the agent's */
	const char *rr_model; /* "" = the agent's */
	const char *rr_system_prompt;
	int32_t rr_max_turns; /* 0 = default */
	int32_t rr_timeout_s; /* 0 = default */
	const char *rr_key; /* "" = made by the server */
	int32_t rr_max_output_tokens; /* 0 = the agent's, else RUN_DEFAULT_MAX_OUTPUT_TOKENS */
};

/* Adds a violation for each offending field: prompt 1..RUN_PROMPT_MAX
 * characters, provider one of ours, model at most 120 characters,
 * max_turns 0|1..100, timeout_seconds 0|1..600, max_output_tokens
 * 0|1..RUN_MAX_OUTPUT_TOKENS, idempotency_key 0|1..80
 * characters of printable ASCII. A request whose only fault is an unknown
 * provider is INVALID_LLM_PROVIDER (without violations: they belong to
 * VALIDATION_ERROR) rather than VALIDATION_ERROR. */
int run_request_check(bbb_status *st, const struct run_request *r);

/* What is known about a run for the reuse decision. */
struct run_brief {
	int64_t rb_id; /* 0 = no such run */
	int64_t rb_task_id;
	run_status rb_status;
};

enum run_decision {
	RUN_QUEUE_NEW, /* queue a new run */
	RUN_REUSE_KEYED, /* the idempotency key names a run of this task: return it */
};

/* keyed: the run holding the request's idempotency key (rb_id 0: none).
 * active: the task's active run (rb_id 0: none). Same key on this task ->
 * reuse (whatever its state); the key on another task ->
 * IDEMPOTENCY_KEY_CONFLICT; another active run -> TASK_RUN_ALREADY_ACTIVE. */
int run_request_decide(int64_t task_id, const struct run_brief *keyed, const struct run_brief *active,
		       enum run_decision *out, bbb_status *st);

/* Provider and model of a new run: the request's override, else the agent's
 * (agent_provider "" when the task has no assignee). A model is taken from
 * the agent only with the agent's own provider; else "" (the provider's
 * default). A violation on "provider" when no provider results. */
int run_pick_model(bbb_status *st, const char *req_provider, const char *req_model, const char *agent_provider,
		   const char *agent_model, const char **provider, const char **model);

#endif
