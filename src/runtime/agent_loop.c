/*
 * The agent loop of one run: provider calls (turns), tool calls, and what
 * each finished call means for the run.
 *
 * A call ends on the HTTP loop's thread (or on the process loop's for a
 * provider that is a program, agent_proc.c; or at once for echo and injected
 * faults) as a completion queued for the dispatcher. The first call of a due
 * run whose provider answers in-process (echo) is made on the dispatcher
 * before the run's start is written (agent_call_in_process): it has no
 * effect outside the process, so the run starts and ends in one transaction.
 * The dispatcher handles finished calls as a batch (struct rt_batch): the
 * completions it took from the queue, or the in-process calls of the runs it
 * starts; in these steps:
 *   1. decide, without the database: domain/run_outcome.h says what the call
 *      means; this file does what that takes: feed the circuit breaker (and
 *      start the gradual release when a probe closed it), price the tokens
 *      (a model without a price gets its cost marked unknown, never a silent
 *      0), make the answer a turn of the conversation (turns.h), note retries
 *      for the retry-storm window;
 *   2. record every decision in ONE write transaction (for in-process
 *      calls, the one that starts their runs, runtime.c; each right after
 *      its run's start): the run_attempts row of each call, usage and cost
 *      (and PRICE_UNKNOWN, one alert per provider and model, for calls
 *      without a price), the answer's turn with its tool calls (not yet run:
 *      no result), run and task status changes with their events, inbox
 *      items and alerts;
 *   3. run the tools of the answers that asked for them (tools.h), only once
 *      their calls are recorded, and record their results with what follows
 *      them (log lines, the run's end) in a second transaction. So a tool
 *      never runs unless its call is recorded, and a call recorded without a
 *      result was cut short by a crash: never run again (turns.h);
 *   4. after the commit, forget finished runs, and runs whose outcome could
 *      not be recorded (the database keeps them as they were: the next start
 *      resumes them from their recorded turns); a run whose conversation goes
 *      on waits for its next call: READY when its endpoint's breaker is
 *      closed, PARKED (held work, released gradually) when it is not. The
 *      dispatcher makes that call like any other (runtime.c), so a next turn
 *      never goes out while its breaker is open.
 */
#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/log.pb-c.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "events/alerts.h"
#include "events/emit.h"
#include "ops/task_ops.h"
#include "runtime/runtime_internal.h"
#include "runtime/tools.h"
#include "runtime/turns.h"
#include "store/alert_store.h"
#include "store/breaker_store.h"
#include "store/inbox_store.h"
#include "store/project_store.h"
#include "store/run_store.h"
#include "store/task_store.h"
#include "store/turn_store.h"
#include "store/usage_store.h"

#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x

/* The provider's word for why an answer ended, as recorded: a label, cut. */
#define RT_STOP_REASON_MAX 64

/* What one completion leads to (step 1), recorded in steps 2 and 3. */
struct rt_outcome {
	struct rt_run *o_run;
	Beebeebrain__V1__RunAttempt o_attempt;
	int64_t o_cost;
	struct run_outcome o_ro; /* the call's decision */
	struct run_outcome o_after; /* TOOL_CALLS, once the tools ran: what follows them */
	struct provider_reply o_reply; /* the answer, when the call brought a usable one */
	struct arena o_arena; /* the turn's own strings */
	struct store_turn *o_turn; /* the answer as a turn (strings of o_reply and o_arena); NULL: none */
	char *o_message; /* malloc'd or NULL */
	char *o_output; /* malloc'd or NULL */
	char *o_call_log; /* a line for the run's log that came with the call (a CLI session's summary); malloc'd or
			     NULL */
	struct tool_effects o_fx; /* what the tools left: inbox item, denied write, log lines */
	int o_error_alert; /* raise the o_ro.ro_code alert for the endpoint */
	int o_resolve_error; /* a call succeeded: resolve the endpoint's error alert */
	int o_with_start; /* made before its run's start was recorded (in-process): recorded right after it */
	int o_started; /* o_with_start: that start was recorded, in the same transaction */
	int o_recorded; /* step 2 committed it */
	int o_moved; /* TOOL_CALLS of a run no longer running (cancelled meanwhile): no tool runs */
	int o_tools_ran; /* step 3 ran its tools */
	int o_results_recorded; /* step 3 committed their results */
	struct rt_outcome *o_next_outcome;
};

/* What the outcome comes to for its run: what followed the tools, or the
 * call's own decision. */
static const struct run_outcome *rt_decision(const struct rt_outcome *o)
{
	return o->o_tools_ran ? &o->o_after : &o->o_ro;
}

/* Endpoint alerts decided in step 1 (breaker transitions). */
struct rt_ep_action {
	struct rt_endpoint *a_ep;
	int a_open; /* 1: raise + incident; 0: resolve + close incident */
	int a_alert; /* 0: the shared row only (a re-opening raises nothing) */
	const char *a_operator; /* a closing an operator asked for (a reset): "operator"; NULL: a probe */
	/* The shared row (breaker_store.h) when the breakers are shared: */
	const char *a_me; /* this server's id; NULL: not shared (SQLite) */
	enum breaker_transition a_tr; /* what the row records: opened, re-opened, closed */
	int64_t a_until; /* wall: the end of the cool-down (opened, re-opened) */
	int64_t a_cooldown_ms;
	struct rt_ep_action *a_next;
};

struct rt_batch {
	struct runtime *b_rt;
	struct rt_outcome *b_outcomes, **b_tail; /* in the order decided */
	struct rt_ep_action *b_actions;
	int b_storm; /* 1: raise LLM_RETRY_STORM */
};

/* ---- calls ------------------------------------------------------------------ */

struct rt_call_arg {
	struct runtime *ca_rt;
	struct rt_run *ca_run;
};

/* On the HTTP loop's thread: copy what is needed and hand it over. */
static void agent_http_done(const struct http_response *resp, void *arg)
{
	struct rt_call_arg *ca = arg;
	struct rt_completion *c = xcalloc(1, sizeof(*c));
	int64_t ra = -1;

	c->c_run = ca->ca_run;
	c->c_outcome = resp->outcome;
	c->c_status = resp->status;
	c->c_body = xmalloc(resp->body_len + 1);
	memcpy(c->c_body, resp->body, resp->body_len);
	c->c_body[resp->body_len] = '\0';
	c->c_len = resp->body_len;
	if (resp->retry_after != NULL)
		retry_parse_retry_after(resp->retry_after, clock_now_ms(), &ra);
	c->c_retry_after_ms = ra;
	c->c_ended = clock_now_ms();
	rt_queue_post(&ca->ca_rt->rt_queue, c);
	free(ca);
}

/* The completion of a call that never leaves the process: echo, an injected
 * fault, a call that could not be made, or an aborted waiting turn
 * (no_call). */
static struct rt_completion *agent_local(struct rt_run *r, enum http_outcome outcome, long status, const char *body,
					 struct provider_reply *reply, int no_call)
{
	struct rt_completion *c = xcalloc(1, sizeof(*c));

	c->c_run = r;
	c->c_outcome = outcome;
	c->c_status = status;
	c->c_body = xstrdup(body);
	c->c_len = strlen(body);
	c->c_retry_after_ms = -1;
	c->c_ended = clock_now_ms();
	c->c_no_call = no_call;
	if (reply != NULL) {
		c->c_reply = *reply;
		c->c_have_reply = 1;
	}
	r->r_http_id = 0;
	r->r_state = RT_RUN_CALLING;
	return c;
}

/* Such a call's end, queued for the dispatcher's next pass. */
static void agent_post_local(struct runtime *rt, struct rt_run *r, enum http_outcome outcome, long status,
			     const char *body, struct provider_reply *reply, int no_call)
{
	rt_queue_post(&rt->rt_queue, agent_local(r, outcome, status, body, reply, no_call));
}

/* Takes one armed fault of that kind, if any. */
static int agent_take_fault(atomic_int *armed)
{
	int n = atomic_load(armed);

	while (n > 0 && !atomic_compare_exchange_weak(armed, &n, n - 1))
		;
	return n > 0;
}

/* Sends the request of a provider that speaks HTTP. */
static void agent_submit(struct runtime *rt, struct rt_run *r, const struct provider_ops *ops,
			 const struct provider_request *req)
{
	struct provider_http_request hr;
	struct rt_call_arg *ca;
	bbb_status st;

	status_clear(&st);
	if (ops->p_build(&r->r_ep->ep_ep, req, &hr, &st) != 0) {
		agent_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL, 0);
		return;
	}
	struct http_request h = {
		.url = hr.hr_url,
		.headers = (const char *const *)hr.hr_headers,
		.n_headers = hr.hr_n_headers,
		.body = hr.hr_body,
		.body_len = hr.hr_body_len,
		.timeout_ms = r->r_timeout_ms,
	};
	ca = xmalloc(sizeof(*ca));
	ca->ca_rt = rt;
	ca->ca_run = r;
	r->r_state = RT_RUN_CALLING;
	r->r_http_id = http_loop_submit(rt->rt_http, &h, agent_http_done, ca, &st);
	provider_http_request_free(&hr);
	if (r->r_http_id == 0) {
		free(ca);
		agent_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL, 0);
	}
}

/* The tools offered to the model: the agent's list (every tool of tools.c
 * when it has none). A provider that runs our tools is offered only those
 * (the list may also name tools of a program provider: `shell`); a program
 * provider maps the whole list to its own tools. */
static size_t agent_offered_tools(const struct rt_run *r, const struct provider_ops *ops, const char **out, size_t max)
{
	size_t n = 0;

	if (r->r_n_tools == 0)
		return tools_names(out, max);
	for (size_t i = 0; i < r->r_n_tools && n < max; i++)
		if ((ops != NULL && ops->p_process) || provider_tool_find(r->r_tools[i]) != NULL)
			out[n++] = r->r_tools[i];
	return n;
}

#define AGENT_MAX_OFFERED (TOOLS_COUNT + 8)

/* The request of the run's next call, whose turn it counts; offered holds
 * AGENT_MAX_OFFERED names. */
static struct provider_request agent_request(struct rt_run *r, const struct provider_ops *ops, const char **offered)
{
	struct provider_request req = {
		.pr_model = r->r_model,
		.pr_max_tokens = r->r_max_output_tokens,
		.pr_conv = &r->r_conv,
		.pr_tools = offered,
		.pr_token_param = r->r_token_param,
	};

	r->r_turn++;
	req.pr_n_tools = agent_offered_tools(r, ops, offered, AGENT_MAX_OFFERED);
	return req;
}

void agent_call(struct runtime *rt, struct rt_run *r)
{
	const struct provider_ops *ops = provider_find(r->r_provider);
	const char *offered[AGENT_MAX_OFFERED];
	struct provider_request req = agent_request(r, ops, offered);
	struct provider_reply reply;
	bbb_status st;

	status_clear(&st);
	if (ops == NULL) {
		agent_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, "unknown provider", NULL, 0);
	} else if (agent_take_fault(&rt->rt_faults.f_timeout)) {
		agent_post_local(rt, r, HTTP_OUTCOME_TIMEOUT, 0, "", NULL, 0);
	} else if (agent_take_fault(&rt->rt_faults.f_transient)) {
		agent_post_local(rt, r, HTTP_OUTCOME_OK, 503, "{\"error\":{\"message\":\"injected llm_transient\"}}",
				 NULL, 0);
	} else if (ops->p_process) {
		agent_spawn(rt, r, &req);
	} else if (ops->p_answer == NULL) {
		agent_submit(rt, r, ops, &req);
	} else if (ops->p_answer(&req, &reply, &st) != 0) {
		agent_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL, 0);
	} else {
		agent_post_local(rt, r, HTTP_OUTCOME_OK, 200, "", &reply, 0);
	}
}

void agent_abort(struct runtime *rt, struct rt_run *r)
{
	if (r->r_state != RT_RUN_CALLING) {
		/* A waiting turn: nothing was sent, so there is no attempt to close. */
		agent_post_local(rt, r, HTTP_OUTCOME_CANCELLED, 0, "", NULL, 1);
		return;
	}
	if (r->r_http_id != 0)
		http_loop_cancel(rt->rt_http, r->r_http_id);
	else if (r->r_proc_id != 0)
		proc_loop_cancel(rt->rt_proc, r->r_proc_id); /* kills its process group */
	/* else a local answer is already on its way */
}

/* ---- step 1: decide -------------------------------------------------------- */

static enum run_call_end agent_call_end(enum http_outcome o)
{
	switch (o) {
	case HTTP_OUTCOME_OK:
	case HTTP_OUTCOME_TOO_LARGE: /* an answer, cut: not usable */
		return RUN_CALL_ANSWERED;
	case HTTP_OUTCOME_TIMEOUT:
		return RUN_CALL_TIMEOUT;
	case HTTP_OUTCOME_CONNECTION_FAILED:
		return RUN_CALL_CONNECTION_FAILED;
	case HTTP_OUTCOME_CANCELLED:
		return RUN_CALL_CANCELLED;
	case HTTP_OUTCOME_LOCAL_ERROR:
		break;
	}
	return RUN_CALL_LOCAL_ERROR;
}

/* The provider's answer, when the call brought a usable one: the echo
 * provider's (taken from the completion) or the parsed 2xx body. */
static int agent_reply(const struct rt_run *r, struct rt_completion *c, struct provider_reply *reply)
{
	const struct provider_ops *ops;
	bbb_status st;

	memset(reply, 0, sizeof(*reply));
	if (c->c_have_reply) {
		*reply = c->c_reply;
		c->c_have_reply = 0;
		return 1;
	}
	if (c->c_outcome != HTTP_OUTCOME_OK || c->c_status < 200 || c->c_status >= 300)
		return 0;
	ops = provider_find(r->r_provider);
	status_clear(&st);
	return ops != NULL && ops->p_parse != NULL && ops->p_parse(c->c_body, c->c_len, reply, &st) == 0;
}

/* An alert action for a transition of ep's breaker (at mono), and the
 * shared row's when the breakers are shared. */
static void agent_ep_action(struct rt_batch *b, struct rt_endpoint *ep, int open, int alert, enum breaker_transition tr,
			    int64_t mono)
{
	struct rt_ep_action *a = xcalloc(1, sizeof(*a));
	const struct breaker *bk = &ep->ep_breaker;

	a->a_ep = ep;
	a->a_open = open;
	a->a_alert = alert;
	if (b->b_rt->rt_shared_breakers) {
		a->a_me = b->b_rt->rt_opt.ro_server_id;
		a->a_tr = tr;
		a->a_until = clock_now_ms() + (bk->b_open_until_ms > mono ? bk->b_open_until_ms - mono : 0);
		a->a_cooldown_ms = bk->b_cooldown_ms;
	}
	a->a_next = b->b_actions;
	b->b_actions = a;
}

void agent_release(struct runtime *rt, struct rt_endpoint *ep, int64_t mono)
{
	int64_t held = 0, now = clock_now_ms();
	bbb_status st;

	status_clear(&st);
	if (store_run_held_count(rt->rt_db, ep->ep_provider, now + rt->rt_opt.ro_release_spread_ms, &held, &st) != 0)
		log_warn("runtime", "cannot count the runs held for %s (released at once): %s %s", ep->ep_key,
			 st.reason, st.message);
	held += (int64_t)rt_runs_parked(&rt->rt_runs, ep);
	breaker_release_begin(&ep->ep_breaker, (size_t)held, rt->rt_opt.ro_release_spread_ms, rt_random(rt), mono);
}

/* Tells the breaker how the call went; its transitions become alerts. */
static void agent_feed_breaker(struct runtime *rt, struct rt_batch *b, struct rt_run *r, const struct run_outcome *ro)
{
	struct rt_endpoint *ep = r->r_ep;
	int64_t mono = clock_mono_ms();
	enum breaker_transition tr = breaker_record(&ep->ep_breaker, mono, r->r_admit, ro->ro_breaker);

	int shared = rt->rt_shared_breakers;

	r->r_admit = BREAKER_ADMITTED; /* a next turn takes its own admission */
	if (tr == BREAKER_TR_OPENED && (!ep->ep_open_alert || shared)) {
		ep->ep_open_alert = 1;
		agent_ep_action(b, ep, 1, 1, tr, mono);
	} else if (tr == BREAKER_TR_REOPENED && shared) {
		agent_ep_action(b, ep, 1, 0, tr, mono);
	} else if (tr == BREAKER_TR_CLOSED) {
		/* Shared: this server's probe closed it for all; the alert may
		 * have been raised by another server. */
		if (ep->ep_open_alert || shared)
			agent_ep_action(b, ep, 0, 1, tr, mono);
		ep->ep_open_alert = 0;
		agent_release(rt, ep, mono);
	}
}

/* Tokens and their price, from a usable answer. A model the price table does
 * not know leaves the call's cost unknown (cost_unknown), not 0. */
static void agent_price(struct runtime *rt, const struct rt_run *r, const struct provider_reply *reply,
			struct rt_outcome *o)
{
	const struct pricing_usage u = {
		.pu_in = reply->r_tokens_in,
		.pu_out = reply->r_tokens_out,
		.pu_cache_read = reply->r_cache_read_tokens,
		.pu_cache_write = reply->r_cache_write_tokens,
	};
	Beebeebrain__V1__RunAttempt *at = &o->o_attempt;
	struct pricing_cost pc;

	at->token_in = reply->r_tokens_in;
	at->token_out = reply->r_tokens_out;
	at->cache_read_tokens = reply->r_cache_read_tokens;
	at->cache_write_tokens = reply->r_cache_write_tokens;
	if (reply->r_cost_reported) {
		/* The provider said what the call cost (claude_code): that is the cost. */
		o->o_cost = reply->r_cost_usd_micros;
		return;
	}
	pricing_cost(rt->rt_pricing, r->r_provider, r->r_model, &u, &pc);
	at->price_in_usd_micros_per_mtok = pc.pc_price.pp_in_micros_per_mtok;
	at->price_out_usd_micros_per_mtok = pc.pc_price.pp_out_micros_per_mtok;
	at->price_cache_read_usd_micros_per_mtok = pc.pc_price.pp_cache_read_micros_per_mtok;
	at->price_cache_write_usd_micros_per_mtok = pc.pc_price.pp_cache_write_micros_per_mtok;
	at->cost_unknown = pc.pc_unknown_model != 0;
	o->o_cost = pc.pc_usd_micros;
}

static struct run_snapshot agent_snapshot(const struct rt_run *r)
{
	struct run_snapshot s = {
		.rs_abort = r->r_abort,
		.rs_retry_count = r->r_retry_count,
		.rs_protocol_errors = r->r_protocol_errors,
		.rs_turn = r->r_turn,
		.rs_max_turns = r->r_max_turns,
		.rs_has_breaker = r->r_ep->ep_has_breaker,
	};

	return s;
}

/* Step 3 for one answer whose calls are recorded: runs its tools, puts
 * their results into its turn and the conversation, and decides what
 * follows them. A call after one that ended the run is not run; it gets a
 * result saying so (every call of an answer is answered). */
static void agent_tools(struct rt_run *r, struct rt_outcome *o)
{
	const struct tool_run tr = {r->r_root, r->r_tools, r->r_n_tools};
	struct run_snapshot snap = agent_snapshot(r);
	struct store_turn *t = o->o_turn;

	for (size_t i = 0; i < t->stu_n_calls; i++) {
		struct store_tool_call *tc = &t->stu_calls[i];
		char *res;
		int is_error = 1;

		if (o->o_fx.te_end != RUN_TOOLS_CONTINUE) {
			tc->stc_result = "not run: an earlier call of this answer ended the run's turn";
			tc->stc_is_error = 1;
			continue;
		}
		res = tools_call(&tr, &o->o_reply.r_calls[i], &o->o_fx, &is_error);
		tc->stc_result = arena_strdup(&o->o_arena, res);
		tc->stc_is_error = is_error;
		free(res);
	}
	turns_conv_add_results(&r->r_conv, t);
	o->o_tools_ran = 1;
	run_outcome_after_tools(&snap, o->o_fx.te_end, &o->o_after);
	if (o->o_fx.te_end == RUN_TOOLS_FINISHED) {
		o->o_output = o->o_fx.te_output;
		o->o_fx.te_output = NULL;
	} else if (o->o_fx.te_end == RUN_TOOLS_PERMISSION_DENIED) {
		o->o_message = xstrdup(o->o_fx.te_denied_message);
	} else if (o->o_after.ro_kind == RUN_OUTCOME_FAILED) {
		o->o_message = xasprintf("the agent used all %d turns without finishing", r->r_max_turns);
	}
}

/* s + t, malloc'd; s may be NULL. */
static char *agent_concat(const char *s, const char *t)
{
	return xasprintf("%s%s", s != NULL ? s : "", t);
}

/* Tool-call arguments as the conversation may carry them: the text when it
 * is a JSON object, else "{}" (an answer cut in the middle of its calls). */
static const char *agent_args_object(const char *args)
{
	json_t *v = json_loads(args != NULL ? args : "", 0, NULL);
	int ok = json_is_object(v);

	json_decref(v);
	return ok ? args : "{}";
}

/* The answer as a turn (recorded in step 2): its text, stop reason and tool
 * calls, not yet run. A cut answer's calls are never run: each gets its
 * result at once; a cut answer without calls asks for the rest. */
static struct store_turn *agent_turn(const struct rt_run *r, struct rt_outcome *o)
{
	const struct provider_reply *reply = &o->o_reply;
	struct store_turn *t = arena_alloc(&o->o_arena, sizeof(*t));
	int cut = o->o_ro.ro_truncated;

	t->stu_n = r->r_turn;
	t->stu_attempt_n = r->r_attempt_n;
	t->stu_text = reply->r_text;
	t->stu_stop_reason = o->o_attempt.stop_reason;
	t->stu_follow_up = "";
	t->stu_n_calls = reply->r_n_calls;
	t->stu_calls = arena_alloc(&o->o_arena, sizeof(*t->stu_calls) * (reply->r_n_calls + 1));
	for (size_t i = 0; i < reply->r_n_calls; i++) {
		struct store_tool_call *tc = &t->stu_calls[i];

		tc->stc_id = reply->r_calls[i].tc_id;
		tc->stc_name = reply->r_calls[i].tc_name;
		tc->stc_arguments =
			cut ? agent_args_object(reply->r_calls[i].tc_arguments) : reply->r_calls[i].tc_arguments;
		if (cut) {
			char *res = turns_cut_call_result(r->r_max_output_tokens);
			tc->stc_result = arena_strdup(&o->o_arena, res);
			tc->stc_is_error = 1;
			free(res);
		}
	}
	if (cut && reply->r_n_calls == 0 && o->o_ro.ro_kind == RUN_OUTCOME_NEXT_TURN) {
		char *text = turns_continue_text(r->r_max_output_tokens);
		t->stu_follow_up = arena_strdup(&o->o_arena, text);
		free(text);
	}
	return t;
}

/* A usable answer: its turn enters the conversation, and the run's output
 * is what it says, after what earlier cut answers said. */
static void agent_answer(struct rt_run *r, struct rt_outcome *o)
{
	const char *text = o->o_reply.r_text;
	char *cut_so_far = r->r_cut_text;

	o->o_turn = agent_turn(r, o);
	turns_conv_add_answer(&r->r_conv, o->o_turn);
	if (o->o_ro.ro_kind != RUN_OUTCOME_TOOL_CALLS)
		turns_conv_add_results(&r->r_conv, o->o_turn);
	r->r_cut_text = NULL;
	if (o->o_ro.ro_truncated && o->o_reply.r_n_calls == 0)
		r->r_cut_text = agent_concat(cut_so_far, text);
	if (o->o_ro.ro_kind == RUN_OUTCOME_SUCCEEDED)
		o->o_output = agent_concat(cut_so_far, text);
	if (o->o_ro.ro_kind == RUN_OUTCOME_FAILED && o->o_ro.ro_truncated) {
		o->o_output = agent_concat(cut_so_far, text);
		o->o_message =
			xasprintf("the answer was cut off at the output limit (max_output_tokens %d) and no turn "
				  "was left to continue it (max_turns %d)",
				  r->r_max_output_tokens, r->r_max_turns);
	}
	free(cut_so_far);
}

/* What a failed call says about itself, for the run's error message. */
static char *agent_failure_message(const struct rt_run *r, const struct rt_completion *c, const char *code)
{
	char detail[300] = "";

	if (c->c_detail != NULL)
		return xasprintf("%s after %lld ms: %s", code, (long long)(c->c_ended - r->r_call_started),
				 c->c_detail);
	provider_error_message(c->c_body, c->c_len, detail, sizeof(detail));
	return xasprintf("%s after %lld ms (HTTP %ld)%s%s", code, (long long)(c->c_ended - r->r_call_started),
			 c->c_status, detail[0] ? ": " : "", detail);
}

/* The attempt row of the call that ended (n 0: no call was made). */
static void agent_attempt(const struct rt_run *r, const struct rt_completion *c, struct rt_outcome *o)
{
	beebeebrain__v1__run_attempt__init(&o->o_attempt);
	o->o_attempt.run_id = r->r_id;
	o->o_attempt.n = c->c_no_call ? 0 : r->r_attempt_n;
	o->o_attempt.started_at_ms = r->r_call_started;
	o->o_attempt.ended_at_ms = c->c_ended;
	o->o_attempt.http_status = (int32_t)c->c_status;
	o->o_attempt.retry_after_ms = c->c_retry_after_ms > 0 ? c->c_retry_after_ms : 0;
	o->o_attempt.error_code = (char *)o->o_ro.ro_code;
}

/* Step 1 for one completion: run_outcome decides, this does what it says. */
static void agent_decide(struct runtime *rt, struct rt_batch *b, struct rt_completion *c, struct rt_outcome *o)
{
	struct rt_run *r = c->c_run;
	int have_reply = agent_reply(r, c, &o->o_reply);
	struct run_call call = {
		.rc_end = agent_call_end(c->c_outcome),
		.rc_http_status = (int)c->c_status,
		.rc_body = c->c_body,
		.rc_body_len = c->c_len,
		.rc_reply_ok = have_reply,
		.rc_truncated = have_reply && o->o_reply.r_stop == PROVIDER_STOP_MAX_TOKENS,
		.rc_n_tool_calls = have_reply ? o->o_reply.r_n_calls : 0,
		.rc_retry_after_ms = c->c_retry_after_ms,
		.rc_class = c->c_have_class ? &c->c_class : NULL,
	};
	struct run_snapshot snap = agent_snapshot(r);

	o->o_run = r;
	r->r_http_id = 0;
	r->r_proc_id = 0;
	o->o_call_log = c->c_log != NULL ? xstrdup(c->c_log) : NULL;
	run_outcome_of_call(&call, &snap, &rt->rt_opt.ro_retry, clock_now_ms(), rt_random(rt), &o->o_ro);
	agent_attempt(r, c, o);
	if (!c->c_no_call)
		rt_metrics_call(&rt->rt_metrics, r, c, &o->o_ro);
	if (have_reply) {
		const char *why = o->o_reply.r_stop_reason;
		o->o_attempt.stop_reason =
			arena_strndup(&o->o_arena, why, utf8_cut(why, strnlen(why, RT_STOP_REASON_MAX)));
	}
	if (o->o_ro.ro_breaker_record && !c->c_no_call)
		agent_feed_breaker(rt, b, r, &o->o_ro);
	r->r_protocol_errors += o->o_ro.ro_protocol_error;
	if (o->o_ro.ro_call_ok) {
		agent_price(rt, r, &o->o_reply, o);
		o->o_resolve_error = r->r_ep->ep_error_alert;
		r->r_ep->ep_error_alert = 0;
		agent_answer(r, o);
	} else if (o->o_ro.ro_code[0] != '\0' && !o->o_ro.ro_keep_task) {
		o->o_message = agent_failure_message(r, c, o->o_ro.ro_code);
	}
	if (o->o_ro.ro_kind == RUN_OUTCOME_RETRY && storm_note(&rt->rt_storm, clock_mono_ms()) == STORM_STARTED)
		b->b_storm = 1;
	if (o->o_ro.ro_call_error_alert && !r->r_ep->ep_error_alert) {
		r->r_ep->ep_error_alert = 1;
		o->o_error_alert = 1;
	}
}

/* Step 1 for one completion: its outcome joins the batch; c is freed. */
static struct rt_outcome *agent_batch_add(struct rt_batch *b, struct rt_completion *c)
{
	struct rt_outcome *o = xcalloc(1, sizeof(*o));

	arena_init(&o->o_arena);
	agent_decide(b->b_rt, b, c, o);
	*b->b_tail = o;
	b->b_tail = &o->o_next_outcome;
	rt_completion_free(c);
	return o;
}

struct rt_batch *agent_batch_new(struct runtime *rt)
{
	struct rt_batch *b = xcalloc(1, sizeof(*b));

	b->b_rt = rt;
	b->b_tail = &b->b_outcomes;
	return b;
}

struct rt_outcome *agent_call_in_process(struct rt_batch *b, struct rt_run *r)
{
	struct runtime *rt = b->b_rt;
	const struct provider_ops *ops = provider_find(r->r_provider);
	const char *offered[AGENT_MAX_OFFERED];
	struct provider_request req;
	struct provider_reply reply;
	struct rt_completion *c;
	struct rt_outcome *o;
	bbb_status st;

	/* An armed fault is taken by agent_call, after the start. */
	if (ops == NULL || ops->p_answer == NULL || ops->p_process || atomic_load(&rt->rt_faults.f_timeout) > 0 ||
	    atomic_load(&rt->rt_faults.f_transient) > 0)
		return NULL;
	status_clear(&st);
	req = agent_request(r, ops, offered);
	if (ops->p_answer(&req, &reply, &st) != 0)
		c = agent_local(r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL, 0);
	else
		c = agent_local(r, HTTP_OUTCOME_OK, 200, "", &reply, 0);
	o = agent_batch_add(b, c);
	o->o_with_start = 1;
	return o;
}

/* ---- step 2: apply --------------------------------------------------------- */

static int rt_log(struct taskop_ctx *c, const struct rt_run *r, int level, const char *message, bbb_status *st)
{
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;

	l.project_id = r->r_project_id;
	l.task_id = r->r_task_id;
	l.run_id = r->r_id;
	l.level = level;
	l.source = "agent";
	l.message = (char *)message;
	return emit_run_log(c->o_db, c->o_trace_id, c->o_arena, &l, st);
}

/* PRICE_UNKNOWN, one alert per provider and model: the first call without a
 * price raises it, every other one only bumps its count (alerts.h). Its dedup
 * key is PRICE_UNKNOWN_KEY, the provider, ':' and the model (which may hold
 * colons itself: "llama3:8b"). */
#define PRICE_UNKNOWN_KEY "PRICE_UNKNOWN:"

static int rt_price_unknown(struct taskop_ctx *c, const struct rt_run *r, bbb_status *st)
{
	struct alert_spec spec = {
		.as_code = "PRICE_UNKNOWN",
		.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_WARNING,
		.as_dedup_key = arena_printf(c->o_arena, PRICE_UNKNOWN_KEY "%s:%s", r->r_provider, r->r_model),
		.as_title = arena_printf(c->o_arena, "No price for %s model %s", r->r_provider, r->r_model),
		.as_message = arena_printf(
			c->o_arena,
			"The price table has no %s model \"%s\": its calls are recorded with their cost unknown "
			"(cost_unknown on the call, the run, usage.recorded and the usage metrics, whose cost totals "
			"leave them out). Add the model to the price table (pricing.json, or the file "
			"BEEBEEBRAIN_PRICING names) and restart the server: this alert is resolved then.",
			r->r_provider, r->r_model),
		.as_project_id = r->r_project_id,
		.as_task_id = r->r_task_id,
		.as_run_id = r->r_id,
		.as_trace_id = "",
	};
	enum alert_outcome how;

	if (alert_raise(c->o_db, &spec, NULL, &how, st) != 0)
		return -1;
	if (how == ALERT_RAISED)
		log_warn("runtime", "no price for %s model %s: its calls are recorded with their cost unknown",
			 r->r_provider, r->r_model);
	return 0;
}

/* Resolves one open PRICE_UNKNOWN alert when the table prices its model. */
static int agent_price_alert_check(struct db *db, const struct pricing *pricing, const char *key, struct arena *a,
				   bbb_status *st)
{
	const size_t prefix = strlen(PRICE_UNKNOWN_KEY);
	const char *colon = strncmp(key, PRICE_UNKNOWN_KEY, prefix) == 0 ? strchr(key + prefix, ':') : NULL;
	struct pricing_price price;

	if (colon == NULL ||
	    !pricing_lookup(pricing, arena_strndup(a, key + prefix, (size_t)(colon - key) - prefix), colon + 1, &price))
		return 0;
	if (alert_resolve(db, key, "", NULL, st) != 0)
		return -1;
	log_info("runtime", "%s has a price now: alert PRICE_UNKNOWN resolved", key + prefix);
	return 0;
}

/* Prices change only with the table, read at start: an open PRICE_UNKNOWN
 * alert whose model has a price now is resolved then. */
int agent_price_alerts_resolve(struct db *db, void *pricing, bbb_status *st)
{
	const struct store_alert_filter f = {.af_status = BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN,
					     .af_code = "PRICE_UNKNOWN"};
	Beebeebrain__V1__Alert **open;
	struct arena a;
	int64_t before = 0;
	size_t n = 0;
	int more = 0, rc;

	arena_init(&a);
	do {
		rc = store_alert_list(db, &f, before, 100, &a, &open, &n, &more, st);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			before = open[i]->id;
			rc = agent_price_alert_check(db, pricing, open[i]->dedup_key, &a, st);
		}
	} while (rc == 0 && more && n > 0);
	arena_reset(&a);
	return rc;
}

static int rt_usage(struct taskop_ctx *c, const struct rt_outcome *o, bbb_status *st)
{
	const struct rt_run *r = o->o_run;
	const Beebeebrain__V1__RunAttempt *at = &o->o_attempt;
	const struct store_usage u = {
		.su_tokens_in = at->token_in,
		.su_tokens_out = at->token_out,
		.su_cache_read = at->cache_read_tokens,
		.su_cache_write = at->cache_write_tokens,
		.su_cost_micros = o->o_cost,
		.su_unpriced = at->cost_unknown,
	};

	/* Every call made is a request of the day, answered or not. */
	if (store_usage_daily_add(c->o_db, r->r_provider, r->r_model, at->ended_at_ms, &u, st) != 0)
		return -1;
	if (at->cost_unknown && rt_price_unknown(c, r, st) != 0)
		return -1;
	if (at->token_in == 0 && at->token_out == 0 && !at->cost_unknown)
		return 0;
	if (store_run_add_usage(c->o_db, r->r_id, &u, st) != 0)
		return -1;
	struct emit_usage e = {
		.eu_project_id = r->r_project_id,
		.eu_task_id = r->r_task_id,
		.eu_run_id = r->r_id,
		.eu_provider = r->r_provider,
		.eu_model = r->r_model,
		.eu_token_in = at->token_in,
		.eu_token_out = at->token_out,
		.eu_cache_read_tokens = at->cache_read_tokens,
		.eu_cache_write_tokens = at->cache_write_tokens,
		.eu_cost_usd_micros = o->o_cost,
		.eu_cost_unknown = at->cost_unknown,
	};
	return emit_usage_recorded(c->o_db, c->o_trace_id, &e, st);
}

/* Opens an inbox item about the task unless one of that type is open. */
static int rt_inbox(struct taskop_ctx *c, const struct rt_run *r, int type, const char *title, const char *content,
		    bbb_status *st)
{
	Beebeebrain__V1__InboxItem *it = NULL;

	if (store_inbox_open_for(c->o_db, type, r->r_task_id, c->o_arena, &it, st) != 0)
		return -1;
	if (it != NULL)
		return 0;
	it = (void *)arena_message(c->o_arena, &beebeebrain__v1__inbox_item__descriptor);
	it->project_id = r->r_project_id;
	it->source_type = BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK;
	it->source_id = r->r_task_id;
	it->item_type = type;
	it->title = arena_strndup(c->o_arena, title, strnlen(title, 160));
	it->content = (char *)content;
	return taskop_inbox_create(c, it, st);
}

/* The run's outcome as decided (ro): run status, then the task's, then
 * inbox and alerts. */
static int rt_finish(struct taskop_ctx *c, const struct rt_outcome *o, const struct run_outcome *ro, bbb_status *st)
{
	const struct rt_run *r = o->o_run;
	Beebeebrain__V1__TaskRun *run;
	Beebeebrain__V1__Task *task;
	task_status to_task;

	if (store_run_get(c->o_db, r->r_id, c->o_arena, &run, st) != 0)
		return -1;
	if (run->run_status != R(RUNNING))
		return 0; /* moved meanwhile (cancelled with its task): only the attempt counts */
	if (o->o_output != NULL)
		run->output_text = o->o_output;
	if (o->o_turn != NULL)
		run->stop_reason = (char *)o->o_turn->stu_stop_reason;
	if (ro->ro_run_status == R(RETRY_SCHEDULED)) {
		run->next_retry_at_ms = ro->ro_retry_at_ms;
		run->retry_count++;
	}
	if (taskop_run_set_status(c, r->r_project_id, run, ro->ro_run_status, ro->ro_code,
				  o->o_message ? o->o_message : "", st) != 0)
		return -1;
	if (store_task_get(c->o_db, r->r_task_id, c->o_arena, &task, st) != 0)
		return -1;
	to_task = ro->ro_keep_task      ? 0
		  : ro->ro_task_to != 0 ? ro->ro_task_to
					: task_status_after_run(ro->ro_run_status);
	if (to_task != 0 && to_task != task->status && task_transition_allowed(task->status, to_task) &&
	    taskop_set_status(c, task, to_task, st) != 0)
		return -1;
	if (ro->ro_run_status == R(SUCCEEDED) &&
	    rt_inbox(c, r, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_TASK_COMPLETED,
		     arena_printf(c->o_arena, "Review: task %lld finished", (long long)r->r_task_id),
		     o->o_output != NULL ? o->o_output : "", st) != 0)
		return -1;
	if (o->o_fx.te_input_title != NULL &&
	    rt_inbox(c, r, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_AWAIT_USER_INPUT, o->o_fx.te_input_title,
		     o->o_fx.te_input_content, st) != 0)
		return -1;
	if (o->o_fx.te_denied_path != NULL) {
		char *key = arena_printf(c->o_arena, "WORKSPACE_PERMISSION_DENIED:%lld:%s", (long long)r->r_project_id,
					 o->o_fx.te_denied_path);
		char *msg = arena_printf(c->o_arena,
					 "Run %lld could not write %s in the workspace %s: %s. Fix the permissions "
					 "(owner, mode, read-only mount), then close this item to resume the task.",
					 (long long)r->r_id, o->o_fx.te_denied_path, r->r_root,
					 o->o_message ? o->o_message : "permission denied");
		struct alert_spec spec = {
			.as_code = "WORKSPACE_PERMISSION_DENIED",
			.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_ERROR,
			.as_dedup_key = key,
			.as_title = "Workspace permission denied",
			.as_message = msg,
			.as_project_id = r->r_project_id,
			.as_task_id = r->r_task_id,
			.as_run_id = r->r_id,
			.as_trace_id = "",
		};
		if (alert_raise(c->o_db, &spec, NULL, NULL, st) != 0 ||
		    rt_inbox(c, r, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_AWAIT_USER_INPUT,
			     "Workspace permission denied", msg, st) != 0)
			return -1;
	}
	return 0;
}

/* The answer's turn. Tool calls of a run that is no longer running (its task
 * was cancelled while the call ran) are not recorded: they will not run. */
static int rt_record_turn(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st)
{
	Beebeebrain__V1__TaskRun *run;

	if (o->o_ro.ro_kind == RUN_OUTCOME_TOOL_CALLS) {
		if (store_run_get(c->o_db, o->o_run->r_id, c->o_arena, &run, st) != 0)
			return -1;
		if (run->run_status != R(RUNNING)) {
			o->o_moved = 1;
			return 0;
		}
	}
	return store_turn_insert(c->o_db, o->o_run->r_id, o->o_turn, clock_now_ms(), st);
}

/* Step 2 for one outcome: the call, its answer's turn, its alerts, and the
 * run's end unless its tools are still to run or its conversation goes on. */
static int rt_apply_one(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st)
{
	const struct rt_run *r = o->o_run;

	o->o_moved = 0;
	/* n == 0: no call was made (an aborted waiting turn): no attempt row, no usage. */
	if (o->o_attempt.n > 0 && (store_attempt_end(c->o_db, &o->o_attempt, st) != 0 || rt_usage(c, o, st) != 0))
		return -1;
	if (o->o_turn != NULL && rt_record_turn(c, o, st) != 0)
		return -1;
	if (o->o_call_log != NULL && rt_log(c, r, BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO, o->o_call_log, st) != 0)
		return -1;
	if (o->o_error_alert) {
		struct alert_spec spec = {
			.as_code = o->o_ro.ro_code,
			.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_WARNING,
			.as_dedup_key = arena_printf(c->o_arena, "LLM_CALL_ERRORS:%s", r->r_ep->ep_key),
			.as_title =
				arena_printf(c->o_arena, "%s calls to %s are failing", r->r_provider, r->r_ep->ep_key),
			.as_message = o->o_message != NULL ? o->o_message : o->o_ro.ro_code,
			.as_project_id = r->r_project_id,
			.as_task_id = r->r_task_id,
			.as_run_id = r->r_id,
			.as_trace_id = "",
		};
		if (alert_raise(c->o_db, &spec, NULL, NULL, st) != 0)
			return -1;
	}
	if (o->o_resolve_error &&
	    alert_resolve(c->o_db, arena_printf(c->o_arena, "LLM_CALL_ERRORS:%s", r->r_ep->ep_key), "", NULL, st) != 0)
		return -1;
	if (o->o_ro.ro_kind == RUN_OUTCOME_NEXT_TURN || o->o_ro.ro_kind == RUN_OUTCOME_TOOL_CALLS)
		return 0;
	return rt_finish(c, o, &o->o_ro, st);
}

/* Step 3 for one answer whose tools ran: their results, their log lines, and
 * the run's end unless its conversation goes on. */
static int rt_apply_tools_one(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st)
{
	const struct rt_run *r = o->o_run;

	if (store_turn_results(c->o_db, r->r_id, o->o_turn, st) != 0)
		return -1;
	for (int i = 0; i < o->o_fx.te_n_logs; i++)
		if (rt_log(c, r, o->o_fx.te_logs[i].tl_level, o->o_fx.te_logs[i].tl_message, st) != 0)
			return -1;
	return o->o_after.ro_kind != RUN_OUTCOME_NEXT_TURN ? rt_finish(c, o, &o->o_after, st) : 0;
}

/* The shared row of a transition (shared_breakers.c). *applied: 0 when a
 * probe's result came after its lease went to another server: that
 * server's probe decides, this one's result is dropped with its alert. */
static int rt_apply_shared(struct taskop_ctx *c, const struct rt_ep_action *a, int *applied, bbb_status *st)
{
	const char *key = a->a_ep->ep_key;
	int64_t now = clock_now_ms();

	*applied = 1;
	switch (a->a_tr) {
	case BREAKER_TR_NONE:
		return 0;
	case BREAKER_TR_OPENED:
		return store_breaker_open(c->o_db, key, a->a_me, now, a->a_until, a->a_cooldown_ms, st);
	case BREAKER_TR_REOPENED:
		return store_breaker_probe_done(c->o_db, key, a->a_me, now, 0, a->a_until, a->a_cooldown_ms, applied,
						st);
	case BREAKER_TR_CLOSED:
		break;
	}
	if (a->a_operator != NULL)
		return store_breaker_close(c->o_db, key, now, st);
	return store_breaker_probe_done(c->o_db, key, a->a_me, now, 1, 0, 0, applied, st);
}

/* Breaker open: alert + incident item; closed: both resolved. */
static int rt_apply_endpoint(struct taskop_ctx *c, const struct rt_ep_action *a, bbb_status *st)
{
	char *key = arena_printf(c->o_arena, "LLM_PROVIDER_UNAVAILABLE:%s", a->a_ep->ep_key);
	int64_t alert_id = 0;
	Beebeebrain__V1__InboxItem *it = NULL;
	Beebeebrain__V1__Alert *open = NULL;
	int applied = 1;

	if (a->a_me != NULL && rt_apply_shared(c, a, &applied, st) != 0)
		return -1;
	if (!applied || !a->a_alert)
		return 0;
	if (!a->a_open) {
		/* The incident item is the one whose source is the open alert. */
		if (store_alert_find_open(c->o_db, key, c->o_arena, &open, st) < 0)
			return -1;
		alert_id = open != NULL ? open->id : 0;
		if (a->a_operator == NULL && alert_resolve(c->o_db, key, c->o_trace_id, NULL, st) != 0)
			return -1;
		/* A reset says who closed it, on the alert and in its event. */
		if (a->a_operator != NULL && alert_id != 0 &&
		    alert_resolve_by(c->o_db, alert_id, a->a_operator,
				     "circuit breaker reset by an operator (runtime breaker reset)", c->o_trace_id,
				     c->o_arena, &open, st) != 0)
			return -1;
		if (alert_id == 0 ||
		    store_inbox_open_for(c->o_db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT, alert_id,
					 c->o_arena, &it, st) != 0 ||
		    it == NULL)
			return 0;
		return taskop_inbox_close(c, it, a->a_operator != NULL ? a->a_operator : "runtime", "", st);
	}
	struct alert_spec spec = {
		.as_code = "LLM_PROVIDER_UNAVAILABLE",
		.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_CRITICAL,
		.as_dedup_key = key,
		.as_title = arena_printf(c->o_arena, "Circuit breaker open for %s", a->a_ep->ep_key),
		.as_message = "Retryable failures crossed the breaker's threshold: no calls are made to this endpoint "
			      "and due runs are held until a probe call succeeds.",
		.as_trace_id = "",
	};
	enum alert_outcome how;
	if (alert_raise(c->o_db, &spec, &alert_id, &how, st) != 0)
		return -1;
	if (store_inbox_open_for(c->o_db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT, alert_id,
				 c->o_arena, &it, st) != 0 ||
	    it != NULL)
		return it != NULL ? 0 : -1;
	int64_t project_id = store_project_id_any(c->o_db);
	if (project_id == 0)
		return 0; /* an incident item needs a project; the alert stands alone */
	it = (void *)arena_message(c->o_arena, &beebeebrain__v1__inbox_item__descriptor);
	it->project_id = project_id;
	it->source_type = BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_SYSTEM;
	it->source_id = alert_id;
	it->item_type = BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT;
	it->title = arena_printf(c->o_arena, "LLM provider unavailable: %.120s", a->a_ep->ep_key);
	it->content = "The circuit breaker opened after repeated timeouts or 5xx answers. Runs are held, not lost; "
		      "they resume, spread out, once a probe call succeeds. See docs/runtime.md (the circuit "
		      "breaker).";
	return taskop_inbox_create(c, it, st);
}

struct rt_ep_apply {
	struct taskop_ctx *ea_ctx;
	const struct rt_ep_action *ea_action;
};

static int rt_apply_endpoint_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_ep_apply *ea = arg;

	(void)db;
	return rt_apply_endpoint(ea->ea_ctx, ea->ea_action, st);
}

struct rt_reset_arg {
	struct rt_ep_action ra_action;
	const char *ra_trace_id;
};

/* The transaction of an operator's reset: the alert and incident resolved. */
static int rt_reset_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_reset_arg *ra = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = ra->ra_trace_id, .o_actor = "operator"};
	int rc;

	arena_init(&a);
	rc = rt_apply_endpoint(&c, &ra->ra_action, st);
	arena_reset(&a);
	return rc;
}

int agent_breaker_reset(struct runtime *rt, struct rt_endpoint *ep, const char *trace_id)
{
	int64_t mono = clock_mono_ms();
	const char *was = breaker_state_name(breaker_state_at(&ep->ep_breaker, mono));
	struct rt_reset_arg ra = {{.a_ep = ep, .a_alert = 1, .a_operator = "operator"}, trace_id};
	bbb_status st;

	if (breaker_reset(&ep->ep_breaker, mono) != BREAKER_TR_CLOSED) {
		log_info("runtime", "circuit breaker of %s reset by an operator: it was closed already", ep->ep_key);
		return 0;
	}
	log_warn("runtime", "circuit breaker of %s reset by an operator: %s -> closed; held runs are released",
		 ep->ep_key, was);
	if (rt->rt_shared_breakers) {
		/* Every server closes: the row is closed, and the alert resolved
		 * whichever server raised it. */
		ra.ra_action.a_me = rt->rt_opt.ro_server_id;
		ra.ra_action.a_tr = BREAKER_TR_CLOSED;
	}
	if (ep->ep_open_alert || rt->rt_shared_breakers) {
		ep->ep_open_alert = 0;
		status_clear(&st);
		if (store_write(rt->rt_store, rt_reset_write, &ra, 0, &st) != 0)
			log_error("runtime", "breaker alert for %s: %s %s", ep->ep_key, st.reason, st.message);
	}
	agent_release(rt, ep, mono);
	return 1;
}

struct rt_apply_arg {
	struct taskop_ctx *aa_ctx;
	struct rt_outcome *aa_outcome;
	int (*aa_apply)(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st);
};

static int rt_apply_one_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_apply_arg *aa = arg;

	(void)db;
	return aa->aa_apply(aa->aa_ctx, aa->aa_outcome, st);
}

/* Records one outcome (tools: its step 3, else its step 2) in a savepoint of
 * its own, so one that cannot be recorded leaves the others; the outcome
 * says whether it was. -1 only when SQLite rolled the whole transaction
 * back: nothing of it will commit, and the caller must hear so. */
static int rt_apply_savepoint(struct taskop_ctx *c, struct rt_outcome *o, int tools, bbb_status *st)
{
	struct rt_apply_arg aa = {c, o, tools ? rt_apply_tools_one : rt_apply_one};
	int *recorded = tools ? &o->o_results_recorded : &o->o_recorded;
	bbb_status one;
	enum store_sp_result rc;

	status_clear(&one);
	rc = store_savepoint(c->o_db, "o", rt_apply_one_write, &aa, &one);
	*recorded = rc == STORE_SP_OK;
	if (rc == STORE_SP_OK)
		return 0;
	log_error("runtime", "run %lld: cannot record %s: %s %s", (long long)o->o_run->r_id,
		  tools ? "its tool results" : "its call", one.reason, one.message);
	if (rc == STORE_SP_TX_LOST) {
		*st = one;
		return -1;
	}
	if (strcmp(one.reason, "DB_LOCKED") == 0)
		*st = one;
	return 0;
}

/* Step 3's transaction: the results of the tools that ran. */
static int rt_apply_tools_write(struct db *db, void *arg, bbb_status *st)
{
	struct rt_batch *b = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};
	int rc = 0;

	arena_init(&a);
	for (struct rt_outcome *o = b->b_outcomes; o != NULL && rc == 0; o = o->o_next_outcome)
		if (o->o_tools_ran)
			rc = rt_apply_savepoint(&c, o, 1, st);
	arena_reset(&a);
	return rc;
}

int agent_batch_record(struct taskop_ctx *c, struct rt_batch *b, bbb_status *st)
{
	for (struct rt_outcome *o = b->b_outcomes; o != NULL; o = o->o_next_outcome)
		if (!o->o_with_start && rt_apply_savepoint(c, o, 0, st) != 0)
			return -1;
	for (struct rt_ep_action *ac = b->b_actions; ac != NULL; ac = ac->a_next) {
		struct rt_ep_apply ea = {c, ac};
		enum store_sp_result sp;
		bbb_status one;

		status_clear(&one);
		/* In a savepoint: on PostgreSQL a failed statement would abort the whole transaction. */
		sp = store_savepoint(c->o_db, "e", rt_apply_endpoint_write, &ea, &one);
		if (sp == STORE_SP_TX_LOST) {
			*st = one;
			return -1;
		}
		if (sp != STORE_SP_OK)
			log_error("runtime", "breaker alert for %s: %s", ac->a_ep->ep_key, one.message);
	}
	if (b->b_storm > 0) {
		struct alert_spec spec = {
			.as_code = "LLM_RETRY_STORM",
			.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_ERROR,
			.as_dedup_key = "LLM_RETRY_STORM",
			.as_title = "Retry storm",
			.as_message = "More runs than the threshold entered retry_scheduled within 60 s.",
			.as_trace_id = "",
		};
		alert_raise(c->o_db, &spec, NULL, NULL, st);
	}
	return 0;
}

int agent_record_started(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st)
{
	assert(o->o_with_start);
	o->o_started = 1;
	return rt_apply_savepoint(c, o, 0, st);
}

static void rt_outcome_free(struct rt_outcome *o)
{
	free(o->o_message);
	free(o->o_output);
	free(o->o_call_log);
	tool_effects_free(&o->o_fx);
	provider_reply_free(&o->o_reply);
	arena_reset(&o->o_arena);
	free(o);
}

/* Step 4 for one outcome: the run finished, or waits for its next turn. A run
 * whose outcome the database did not take leaves memory too: its rows are as
 * they were (running, the call open), which the next start resumes from its
 * recorded turns; going on here would run ahead of what is recorded. An
 * in-process call whose run did not start (it moved meanwhile, or the pass's
 * transaction was lost) is forgotten with its run, which the database keeps
 * as it was. */
static void agent_after(struct runtime *rt, struct rt_outcome *o)
{
	struct rt_run *r = o->o_run;
	enum run_outcome_kind kind = rt_decision(o)->ro_kind;
	int unrecorded = !o->o_recorded || (o->o_tools_ran && !o->o_results_recorded);

	if (o->o_with_start && !o->o_started) {
		rt_runs_remove(&rt->rt_runs, r);
		rt_run_free(r);
		return;
	}
	if (unrecorded && (kind == RUN_OUTCOME_NEXT_TURN || kind == RUN_OUTCOME_TOOL_CALLS))
		log_error("runtime",
			  "run %lld stops here: what it did could not be recorded; it continues from its last recorded "
			  "turn when the server starts again",
			  (long long)r->r_id);
	if (unrecorded || o->o_moved || kind != RUN_OUTCOME_NEXT_TURN) {
		rt_runs_remove(&rt->rt_runs, r);
		rt_run_free(r);
		return;
	}
	/* Never held: it goes as soon as the dispatcher has a slot. Held work
	 * (the breaker is not closed) is let go through the breaker's release. */
	r->r_state =
		!r->r_ep->ep_has_breaker || breaker_state_at(&r->r_ep->ep_breaker, clock_mono_ms()) == BREAKER_CLOSED
			? RT_RUN_READY
			: RT_RUN_PARKED;
}

void agent_batch_lost(struct rt_batch *b)
{
	for (struct rt_outcome *o = b->b_outcomes; o != NULL; o = o->o_next_outcome)
		o->o_recorded = o->o_started = 0;
}

/* Step 3: the tools of every answer whose calls are recorded, then their
 * results in one transaction. */
static void agent_run_tools(struct runtime *rt, struct rt_batch *b)
{
	int ran = 0;
	bbb_status st;

	for (struct rt_outcome *o = b->b_outcomes; o != NULL; o = o->o_next_outcome) {
		if (o->o_ro.ro_kind != RUN_OUTCOME_TOOL_CALLS || !o->o_recorded || o->o_moved)
			continue;
		agent_tools(o->o_run, o);
		ran = 1;
	}
	if (!ran)
		return;
	status_clear(&st);
	if (store_write(rt->rt_store, rt_apply_tools_write, b, 0, &st) != 0) {
		log_error("runtime", "cannot record tool results: %s %s", st.reason, st.message);
		for (struct rt_outcome *o = b->b_outcomes; o != NULL; o = o->o_next_outcome)
			o->o_results_recorded = 0;
	}
}

void agent_batch_finish(struct rt_batch *b)
{
	struct runtime *rt = b->b_rt;

	/* 3. run the tools whose calls are recorded, and record their results */
	agent_run_tools(rt, b);
	/* 4. finished runs go; the others wait for their next turn */
	while (b->b_outcomes != NULL) {
		struct rt_outcome *o = b->b_outcomes;
		b->b_outcomes = o->o_next_outcome;
		agent_after(rt, o);
		rt_outcome_free(o);
	}
	while (b->b_actions != NULL) {
		struct rt_ep_action *next = b->b_actions->a_next;
		free(b->b_actions);
		b->b_actions = next;
	}
	free(b);
}

/* Step 2's transaction for completions taken from the queue. */
static int rt_apply_write(struct db *db, void *arg, bbb_status *st)
{
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};
	int rc;

	arena_init(&a);
	rc = agent_batch_record(&c, arg, st);
	arena_reset(&a);
	return rc;
}

void agent_apply_completions(struct runtime *rt, struct rt_completion *list)
{
	struct rt_batch *b = agent_batch_new(rt);
	bbb_status st;

	/* 1. decide */
	while (list != NULL) {
		struct rt_completion *c = list;

		list = c->c_next;
		agent_batch_add(b, c);
	}
	/* 2. record, in one transaction */
	status_clear(&st);
	if (store_write(rt->rt_store, rt_apply_write, b, 0, &st) != 0) {
		log_error("runtime", "cannot record provider calls: %s %s", st.reason, st.message);
		agent_batch_lost(b);
	}
	/* 3. and 4. */
	agent_batch_finish(b);
}
