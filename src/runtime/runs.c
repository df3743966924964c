/*
 * The run registry: the runs the dispatcher holds in memory (started, not
 * yet finished), each with its conversation and the call it waits for. The
 * dispatcher's only (runtime_internal.h); a run enters when its start is
 * committed and leaves when its outcome is.
 */
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "common/xalloc.h"
#include "runtime/runtime_internal.h"
#include "runtime/turns.h"

#define RT_DEFAULT_MAX_TURNS 8

/* "read_file, write_file" -> {"read_file", "write_file"}. */
static char **rt_split_tools(const char *csv, size_t *n)
{
	char **out = NULL, *copy = xstrdup(csv), *save = NULL;

	*n = 0;
	for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		out = xrealloc(out, (*n + 1) * sizeof(*out));
		out[(*n)++] = xstrdup(t);
	}
	free(copy);
	return out;
}

struct rt_run *rt_run_new(const Beebeebrain__V1__TaskRun *run, int64_t project_id, const struct store_run_exec *ex,
			  struct store_turn *turns, size_t n_turns, struct rt_endpoint *ep, int64_t default_timeout_ms)
{
	struct rt_run *r = xcalloc(1, sizeof(*r));
	bbb_status st;

	status_clear(&st);
	r->r_id = run->id;
	r->r_task_id = run->task_id;
	r->r_project_id = project_id;
	r->r_agent_id = run->agent_id;
	r->r_provider = xstrdup(run->provider[0] ? run->provider : "echo");
	r->r_model = xstrdup(run->model[0] ? run->model : "echo");
	r->r_root = xstrdup(ex->re_root);
	r->r_retry_count = run->retry_count;
	r->r_attempt_n = ex->re_last_attempt;
	r->r_protocol_errors = ex->re_protocol_errors;
	r->r_max_turns = run->max_turns > 0 ? run->max_turns : RT_DEFAULT_MAX_TURNS;
	r->r_max_output_tokens = run->max_output_tokens > 0 ? run->max_output_tokens : PROVIDER_DEFAULT_MAX_TOKENS;
	r->r_timeout_ms = run->timeout_seconds > 0 ? (int64_t)run->timeout_seconds * 1000 : default_timeout_ms;
	r->r_tools = rt_split_tools(ex->re_tools, &r->r_n_tools);
	/* The agent's value was checked when it was stored; anything else is AUTO. */
	provider_token_param_parse(ex->re_token_param, &r->r_token_param);
	r->r_ep = ep;
	r->r_admit = BREAKER_ADMITTED;
	provider_conv_init(&r->r_conv);
	if (run->system_prompt[0] != '\0')
		provider_conv_set_system(&r->r_conv, run->system_prompt, &st);
	else if (ex->re_persona[0] != '\0')
		provider_conv_set_system(&r->r_conv, ex->re_persona, &st);
	provider_conv_add_user(&r->r_conv, run->prompt, &st);
	/* Where it left off: a retried, resumed or recovered run goes on from its
	 * last recorded turn, with the turns it already used. */
	turns_conv_restore(&r->r_conv, turns, n_turns);
	r->r_turn = (int)n_turns;
	r->r_cut_text = turns_cut_text(turns, n_turns);
	return r;
}

void rt_run_free(struct rt_run *r)
{
	if (r == NULL)
		return;
	free(r->r_provider);
	free(r->r_model);
	free(r->r_root);
	free(r->r_cut_text);
	provider_conv_free(&r->r_conv);
	for (size_t i = 0; i < r->r_n_tools; i++)
		free(r->r_tools[i]);
	free(r->r_tools);
	free(r);
}

void rt_runs_add(struct rt_runs *rs, struct rt_run *r)
{
	r->r_next = rs->rs_head;
	rs->rs_head = r;
	rs->rs_n++;
}

void rt_runs_remove(struct rt_runs *rs, struct rt_run *r)
{
	for (struct rt_run **pp = &rs->rs_head; *pp != NULL; pp = &(*pp)->r_next)
		if (*pp == r) {
			*pp = r->r_next;
			rs->rs_n--;
			return;
		}
}

struct rt_run *rt_runs_find(const struct rt_runs *rs, int64_t run_id)
{
	for (struct rt_run *r = rs->rs_head; r != NULL; r = r->r_next)
		if (r->r_id == run_id)
			return r;
	return NULL;
}

int rt_runs_calling(const struct rt_runs *rs)
{
	int n = 0;

	for (const struct rt_run *r = rs->rs_head; r != NULL; r = r->r_next)
		n += r->r_state == RT_RUN_CALLING;
	return n;
}

size_t rt_runs_parked(const struct rt_runs *rs, const struct rt_endpoint *ep)
{
	size_t n = 0;

	for (const struct rt_run *r = rs->rs_head; r != NULL; r = r->r_next)
		n += r->r_state == RT_RUN_PARKED && r->r_ep == ep;
	return n;
}
