/*
 * Shared write-side operations (see task_ops.h). Every change here comes with
 * its event, written by its emitter (events/emit.h) on the same connection,
 * inside the caller's transaction.
 */
#include "ops/task_ops.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "common/status.h"
#include "events/emit.h"
#include "store/agent_store.h"
#include "store/inbox_store.h"
#include "store/project_store.h"
#include "store/run_store.h"
#include "store/task_store.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x

int taskop_resolve_project(struct db *db, int64_t *project_id, bbb_status *st)
{
	Beebeebrain__V1__Project *p;
	struct arena a;
	int rc;

	if (*project_id == 0) {
		*project_id = store_project_id_by_name(db, "default");
		if (*project_id == 0)
			return status_violation(st, "project_id", "is required (no project named 'default' exists)");
		return 0;
	}
	arena_init(&a);
	rc = store_project_get(db, *project_id, &a, &p, st);
	arena_reset(&a);
	return rc;
}

int taskop_set_status(const struct taskop_ctx *c, Beebeebrain__V1__Task *t, task_status to, bbb_status *st)
{
	task_status from = t->status;

	if (task_transition_check(from, to, st) != 0)
		return -1;
	if (from == to)
		return 0;
	t->status = to;
	if (store_task_save(c->o_db, t, st) != 0) {
		t->status = from;
		return -1;
	}
	if (emit_task_status_changed(c->o_db, c->o_trace_id, t, from, to, c->o_actor, st) != 0)
		return -1;
	/* A cancelled task has no active run, however it got cancelled. */
	if (to == T(CANCELLED))
		return taskop_cancel_active_runs(c, t, "TASK_CANCELLED", st);
	return 0;
}

int taskop_command(const struct taskop_ctx *c, task_command cmd, int64_t task_id, int64_t expected_version,
		   int64_t project_id, Beebeebrain__V1__Task **out, task_status *from_out, bbb_status *refusal,
		   bbb_status *st)
{
	Beebeebrain__V1__Task *t = NULL;
	task_status from = T(UNSPECIFIED), to;

	status_clear(refusal);
	*out = NULL;
	if (store_task_get(c->o_db, task_id, c->o_arena, &t, refusal) != 0) {
		if (refusal->code != BBB_NOT_FOUND) {
			*st = *refusal;
			return -1;
		}
		t = NULL;
		goto audit;
	}
	from = t->status;
	if (project_id != 0 && t->project_id != project_id) {
		status_fail(refusal, "TASK_NOT_FOUND", "task %lld is not a task of project %lld", (long long)task_id,
			    (long long)project_id);
		goto audit;
	}
	if (expected_version != 0 && expected_version != t->version) {
		status_fail(refusal, "TASK_VERSION_CONFLICT", "task %lld is at version %lld, not %lld",
			    (long long)task_id, (long long)t->version, (long long)expected_version);
		goto audit;
	}
	if (task_command_target(cmd, from, &to, refusal) != 0)
		goto audit;
	if (taskop_set_status(c, t, to, st) != 0)
		return -1;
audit:
	*out = t;
	if (from_out != NULL)
		*from_out = from;
	return emit_task_intervention_audit(c->o_db, c->o_trace_id, cmd, task_id, t, from, c->o_actor, refusal, st);
}

int taskop_run_set_status(const struct taskop_ctx *c, int64_t project_id, Beebeebrain__V1__TaskRun *r, run_status to,
			  const char *error_code, const char *error_message, bbb_status *st)
{
	run_status from = r->run_status;

	if (run_transition_check(from, to, st) != 0)
		return -1;
	if (from == to)
		return 0;
	r->run_status = to;
	if (run_is_final(to) && r->ended_at_ms == 0)
		r->ended_at_ms = clock_now_ms();
	if (to != R(RETRY_SCHEDULED))
		r->next_retry_at_ms = 0;
	if (error_code != NULL)
		r->error_code = (char *)error_code;
	if (error_message != NULL)
		r->error_message = (char *)error_message;
	if (store_run_save(c->o_db, r, st) != 0)
		return -1;
	return emit_run_status_changed(c->o_db, c->o_trace_id, project_id, r, from, st);
}

int taskop_cancel_active_runs(const struct taskop_ctx *c, const Beebeebrain__V1__Task *t, const char *error_code,
			      bbb_status *st)
{
	Beebeebrain__V1__TaskRun *r;

	/* Each pass makes one run final, so this ends. */
	for (;;) {
		if (store_run_active(c->o_db, t->id, c->o_arena, &r, st) != 0)
			return -1;
		if (r == NULL)
			return 0;
		if (taskop_run_set_status(c, t->project_id, r, R(CANCELLED), error_code, NULL, st) != 0)
			return -1;
	}
}

/* "auto-<16 hex>": a key for a RunTask that brought none. */
static char *taskop_make_key(struct arena *a)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint64_t)clock_now_ms() * 2654435761u ^ (uint64_t)clock_mono_ms();
	return arena_printf(a, "auto-%016" PRIx64, v);
}

int taskop_queue_run(const struct taskop_ctx *c, int64_t task_id, const struct run_request *rq,
		     Beebeebrain__V1__TaskRun **run_out, Beebeebrain__V1__Task **task_out, bbb_status *st)
{
	Beebeebrain__V1__TaskRun *keyed = NULL, *active = NULL, *r;
	Beebeebrain__V1__Agent *agent = NULL;
	Beebeebrain__V1__Task *t;
	struct run_brief kb = {0}, ab = {0};
	enum run_decision decision;
	const char *key = rq->rr_key[0] != '\0' ? rq->rr_key : taskop_make_key(c->o_arena);
	const char *provider, *model;

	assert(c->o_run_timeout_s >= 1 && c->o_run_timeout_s <= RUN_MAX_TIMEOUT_S);
	if (store_task_get(c->o_db, task_id, c->o_arena, &t, st) != 0)
		return -1;
	if (task_out != NULL)
		*task_out = t;
	if (store_run_by_key(c->o_db, key, c->o_arena, &keyed, st) != 0 ||
	    store_run_active(c->o_db, task_id, c->o_arena, &active, st) != 0)
		return -1;
	if (keyed != NULL)
		kb = (struct run_brief){keyed->id, keyed->task_id, keyed->run_status};
	if (active != NULL)
		ab = (struct run_brief){active->id, active->task_id, active->run_status};
	if (run_request_decide(task_id, &kb, &ab, &decision, st) != 0)
		return -1;
	if (decision == RUN_REUSE_KEYED) {
		*run_out = keyed;
		return 0;
	}
	if (task_transition_check(t->status, T(RUNNING), st) != 0)
		return -1;
	if (t->assignee_agent_id != 0 && store_agent_get(c->o_db, t->assignee_agent_id, c->o_arena, &agent, st) != 0)
		return -1;
	if (run_pick_model(st, rq->rr_provider, rq->rr_model, agent != NULL ? agent->model_provider : "",
			   agent != NULL ? agent->model_name : "", &provider, &model) != 0)
		return -1;

	r = (Beebeebrain__V1__TaskRun *)arena_message(c->o_arena, &beebeebrain__v1__task_run__descriptor);
	r->task_id = task_id;
	r->agent_id = t->assignee_agent_id;
	r->run_status = R(QUEUED);
	r->idempotency_key = (char *)key;
	r->prompt = (char *)rq->rr_prompt;
	r->system_prompt = (char *)rq->rr_system_prompt;
	r->max_turns = rq->rr_max_turns != 0 ? rq->rr_max_turns : RUN_DEFAULT_MAX_TURNS;
	/* Stored on the run, so `run get` shows what the runtime will use. */
	r->timeout_seconds = rq->rr_timeout_s != 0 ? rq->rr_timeout_s : c->o_run_timeout_s;
	r->provider = (char *)provider;
	r->model = (char *)model;
	/* The agent's limit goes with the agent's provider, as its model does. */
	r->max_output_tokens = rq->rr_max_output_tokens;
	if (r->max_output_tokens == 0 && agent != NULL && strcmp(provider, agent->model_provider) == 0)
		r->max_output_tokens = agent->max_output_tokens;
	if (r->max_output_tokens == 0)
		r->max_output_tokens = RUN_DEFAULT_MAX_OUTPUT_TOKENS;
	if (store_run_next_attempt(c->o_db, task_id, &r->attempt, st) != 0 || store_run_insert(c->o_db, r, st) != 0)
		return -1;
	if (emit_run_status_changed(c->o_db, c->o_trace_id, t->project_id, r, R(UNSPECIFIED), st) != 0)
		return -1;
	if (taskop_set_status(c, t, T(RUNNING), st) != 0)
		return -1;
	*run_out = r;
	return 0;
}

int taskop_inbox_create(const struct taskop_ctx *c, Beebeebrain__V1__InboxItem *it, bbb_status *st)
{
	if (store_inbox_insert(c->o_db, it, st) != 0)
		return -1;
	return emit_inbox_item_created(c->o_db, c->o_trace_id, it, st);
}

int taskop_inbox_close(const struct taskop_ctx *c, Beebeebrain__V1__InboxItem *it, const char *resolver,
		       const char *user_input, bbb_status *st)
{
	it->status = BEEBEEBRAIN__V1__INBOX_STATUS__INBOX_STATUS_CLOSED;
	it->resolved_at_ms = clock_now_ms();
	it->resolver = (char *)resolver;
	it->user_input = (char *)user_input;
	if (store_inbox_save(c->o_db, it, st) != 0)
		return -1;
	return emit_inbox_item_closed(c->o_db, c->o_trace_id, it, st);
}
