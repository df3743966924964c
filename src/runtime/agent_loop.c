/*
 * The agent loop of one run: provider calls (turns), tool calls, and what
 * each finished call means for the run.
 *
 * A call ends on the HTTP loop's thread (or at once for echo and injected
 * faults) as a completion queued for the dispatcher. The dispatcher takes a
 * batch of completions and handles it in three steps:
 *   1. decide, without the database: classify the call, feed the circuit
 *      breaker, run the tools the model asked for (file tools through the
 *      workspace gateway), and choose what comes next: another turn, or the
 *      run's outcome (succeeded, retry_scheduled, failed, interrupted);
 *   2. apply every decision in ONE write transaction: the run_attempts row
 *      of each call, usage and cost, run and task status changes with their
 *      events, inbox items, log lines and alerts;
 *   3. after the commit, submit the next turns and forget finished runs. A
 *      next turn is a call like any other: while its endpoint's breaker is
 *      open it waits, parked with its conversation, until the breaker lets
 *      it through (rt_unpark, each dispatcher tick) or the run is aborted.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/log.pb-c.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/dbuf.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "events/alerts.h"
#include "runtime/runtime_internal.h"
#include "ops/task_ops.h"
#include "store/alert_store.h"
#include "store/inbox_store.h"
#include "store/log_store.h"
#include "store/project_store.h"
#include "store/run_store.h"
#include "store/task_store.h"
#include "store/usage_store.h"
#include "workspace/gateway.h"

#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x
/* The most text one tool result gives the model (a cut one says so). */
#define TOOL_RESULT_MAX (64 * 1024)
#define MAX_LOGS 16
#define RT_LOG_MAX 16384 /* bytes of one run log line the runtime writes */

enum rt_next { RT_CONTINUE, RT_FINISH };

/* What one completion leads to (step 1), applied in step 2. */
struct rt_outcome {
	struct rt_run *o_run;
	Beebeebrain__V1__RunAttempt o_attempt;
	int64_t o_cost;
	enum rt_next o_next;
	run_status o_to;
	char o_code[48];
	char *o_message; /* malloc'd or NULL */
	char *o_output; /* malloc'd or NULL */
	int64_t o_next_retry_at;
	task_status o_task_to; /* 0: the run outcome's mapping */
	int o_keep_task; /* an aborted call: the task's status is the operator's, not the run's */
	char *o_input_title; /* an await_user_input item to open (malloc'd) */
	char *o_input_content;
	char *o_denied_path; /* WORKSPACE_PERMISSION_DENIED: the path */
	int o_n_logs;
	struct {
		int level;
		char *message;
	} o_logs[MAX_LOGS];
	int o_error_alert; /* raise the o_code alert for the endpoint */
	int o_resolve_error; /* a call succeeded: resolve the endpoint's error alert */
	struct rt_outcome *o_next_outcome;
};

/* Endpoint alerts decided in step 1 (breaker transitions, storms). */
struct rt_ep_action {
	struct rt_endpoint *a_ep;
	int a_open; /* 1: raise + incident; 0: resolve + close incident */
	struct rt_ep_action *a_next;
};

struct rt_batch {
	struct runtime *b_rt;
	struct rt_outcome *b_outcomes;
	struct rt_ep_action *b_actions;
	int b_storm; /* 1: raise LLM_RETRY_STORM, -1: resolve it */
};

void rt_run_free(struct rt_run *r)
{
	if (r == NULL)
		return;
	free(r->r_provider);
	free(r->r_model);
	free(r->r_root);
	provider_conv_free(&r->r_conv);
	for (size_t i = 0; i < r->r_n_tools; i++)
		free(r->r_tools[i]);
	free(r->r_tools);
	free(r);
}

void rt_unlink_run(struct runtime *rt, struct rt_run *r)
{
	for (struct rt_run **pp = &rt->rt_runs; *pp != NULL; pp = &(*pp)->r_next)
		if (*pp == r) {
			*pp = r->r_next;
			rt->rt_n_runs--;
			return;
		}
}

/* ---- calls ------------------------------------------------------------------ */

static void rt_post(struct runtime *rt, struct rt_completion *c)
{
	pthread_mutex_lock(&rt->rt_mu);
	if (rt->rt_done_tail != NULL)
		rt->rt_done_tail->c_next = c;
	else
		rt->rt_done_head = c;
	rt->rt_done_tail = c;
	pthread_cond_signal(&rt->rt_cv);
	pthread_mutex_unlock(&rt->rt_mu);
}

struct rt_call_arg {
	struct runtime *ca_rt;
	struct rt_run *ca_run;
};

/* On the HTTP loop's thread: copy what is needed and hand it over. */
static void rt_http_done(const struct http_response *resp, void *arg)
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
	rt_post(ca->ca_rt, c);
	free(ca);
}

/* A call that never leaves the process: echo, or an injected fault. */
static void rt_post_local(struct runtime *rt, struct rt_run *r, enum http_outcome outcome, long status,
			  const char *body, struct provider_reply *reply)
{
	struct rt_completion *c = xcalloc(1, sizeof(*c));

	c->c_run = r;
	c->c_outcome = outcome;
	c->c_status = status;
	c->c_body = xstrdup(body);
	c->c_len = strlen(body);
	c->c_retry_after_ms = -1;
	c->c_ended = clock_now_ms();
	if (reply != NULL) {
		c->c_reply = *reply;
		c->c_have_reply = 1;
	}
	r->r_http_id = 0;
	rt_post(rt, c);
}

/* Makes the next call of a run (one turn). 0, or -1 when it cannot. */
static int rt_call(struct runtime *rt, struct rt_run *r)
{
	const struct provider_ops *ops = provider_find(r->r_provider);
	struct provider_request req = {
		.pr_model = r->r_model,
		.pr_conv = &r->r_conv,
		.pr_tools = (const char *const *)r->r_tools,
		.pr_n_tools = r->r_n_tools,
	};
	struct provider_http_request hr;
	bbb_status st;
	int expected;

	status_clear(&st);
	r->r_turn++;
	r->r_call_started = clock_now_ms();
	if (r->r_n_tools == 0) {
		/* No tool list on the agent: every tool of SPEC section 6. */
		static const char *const all[] = {"read_file",  "list_path",     "search_files", "write_file",
						  "append_log", "request_input", "finish_task"};
		req.pr_tools = all;
		req.pr_n_tools = sizeof(all) / sizeof(all[0]);
	}
	if (ops == NULL) {
		rt_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, "unknown provider", NULL);
		return 0;
	}
	expected = atomic_load(&rt->rt_fault_timeout);
	while (expected > 0 && !atomic_compare_exchange_weak(&rt->rt_fault_timeout, &expected, expected - 1))
		;
	if (expected > 0) {
		rt_post_local(rt, r, HTTP_OUTCOME_TIMEOUT, 0, "", NULL);
		return 0;
	}
	expected = atomic_load(&rt->rt_fault_transient);
	while (expected > 0 && !atomic_compare_exchange_weak(&rt->rt_fault_transient, &expected, expected - 1))
		;
	if (expected > 0) {
		rt_post_local(rt, r, HTTP_OUTCOME_OK, 503, "{\"error\":{\"message\":\"injected llm_transient\"}}",
			      NULL);
		return 0;
	}
	if (ops->p_answer != NULL) {
		struct provider_reply reply;
		if (ops->p_answer(&req, &reply, &st) != 0) {
			rt_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL);
			return 0;
		}
		rt_post_local(rt, r, HTTP_OUTCOME_OK, 200, "", &reply);
		return 0;
	}
	if (ops->p_build(&r->r_ep->ep_ep, &req, &hr, &st) != 0) {
		rt_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL);
		return 0;
	}
	struct http_request h = {
		.url = hr.hr_url,
		.headers = (const char *const *)hr.hr_headers,
		.n_headers = hr.hr_n_headers,
		.body = hr.hr_body,
		.body_len = hr.hr_body_len,
		.timeout_ms = r->r_timeout_ms,
	};
	struct rt_call_arg *ca = xmalloc(sizeof(*ca));
	ca->ca_rt = rt;
	ca->ca_run = r;
	r->r_http_id = http_loop_submit(rt->rt_http, &h, rt_http_done, ca, &st);
	provider_http_request_free(&hr);
	if (r->r_http_id == 0) {
		free(ca);
		rt_post_local(rt, r, HTTP_OUTCOME_LOCAL_ERROR, 0, st.message, NULL);
	}
	return 0;
}

int rt_run_first_call(struct runtime *rt, struct rt_run *r)
{
	return rt_call(rt, r);
}

/* May a call of this run go now? Takes the breaker's admission for it. */
static int rt_breaker_admits(struct rt_run *r)
{
	enum breaker_admit admit;

	if (strcmp(r->r_provider, "echo") == 0)
		return 1;
	admit = breaker_allow(&r->r_ep->ep_breaker, clock_mono_ms());
	if (admit == BREAKER_DENIED)
		return 0;
	r->r_admit = admit;
	return 1;
}

/* The next turn of a conversation: while the endpoint's breaker is open no
 * call is made (SPEC section 6), so the run keeps its conversation and waits,
 * parked, until rt_unpark finds the breaker letting it through. */
static int rt_next_turn(struct runtime *rt, struct rt_run *r)
{
	if (!rt_breaker_admits(r)) {
		r->r_parked = 1;
		return 0;
	}
	return rt_call(rt, r);
}

void rt_unpark(struct runtime *rt)
{
	struct rt_run *r = rt->rt_runs, *next;

	for (; r != NULL; r = next) {
		next = r->r_next;
		if (!r->r_parked || r->r_abort != RT_ABORT_NONE || !rt_breaker_admits(r))
			continue;
		r->r_parked = 0;
		if (rt_call(rt, r) != 0) {
			/* Out of memory: the run stays `running` and is resumed at the next start. */
			rt_unlink_run(rt, r);
			rt_run_free(r);
		}
	}
}

void rt_abort_call(struct runtime *rt, struct rt_run *r)
{
	struct rt_completion *c;

	if (r->r_http_id != 0) {
		http_loop_cancel(rt->rt_http, r->r_http_id);
		return;
	}
	if (!r->r_parked)
		return; /* a local answer is already on its way */
	c = xcalloc(1, sizeof(*c));
	r->r_parked = 0;
	c->c_run = r;
	c->c_outcome = HTTP_OUTCOME_CANCELLED;
	c->c_body = xstrdup("");
	c->c_retry_after_ms = -1;
	c->c_ended = clock_now_ms();
	c->c_no_call = 1;
	rt_post(rt, c);
}

/* ---- tools ---------------------------------------------------------------- */

static const char *rt_jstr(json_t *args, const char *key)
{
	json_t *v = json_object_get(args, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int rt_tool_enabled(const struct rt_run *r, const char *name)
{
	if (r->r_n_tools == 0)
		return 1;
	for (size_t i = 0; i < r->r_n_tools; i++)
		if (strcmp(r->r_tools[i], name) == 0)
			return 1;
	return 0;
}

/* Runs one tool call: its result text goes to *out (bounded, see
 * TOOL_RESULT_MAX; the caller marks a cut result), *is_error says whether it
 * failed; it may end the run by setting o->o_next = RT_FINISH. */
static void rt_tool(struct rt_run *r, const struct provider_tool_call *call, struct rt_outcome *o, struct dbuf *out,
		    int *is_error)
{
	json_t *args = json_loads(call->tc_arguments != NULL ? call->tc_arguments : "{}", 0, NULL);
	struct gateway *g = NULL;
	const char *path = args != NULL ? rt_jstr(args, "path") : NULL;
	int failed = 1;
	bbb_status st;

	status_clear(&st);
	*is_error = 1;
	if (args == NULL || !json_is_object(args)) {
		dbuf_addstr(out, "arguments must be a JSON object");
		goto done;
	}
	if (!rt_tool_enabled(r, call->tc_name)) {
		dbuf_printf(out, "tool %s is not enabled for this agent", call->tc_name);
		goto done;
	}
	if (strcmp(call->tc_name, "finish_task") == 0) {
		const char *summary = rt_jstr(args, "summary");
		o->o_next = RT_FINISH;
		o->o_to = R(SUCCEEDED);
		o->o_output = xstrdup(summary != NULL ? summary : "");
		*is_error = 0;
		dbuf_addstr(out, "finished");
		goto done;
	}
	if (strcmp(call->tc_name, "request_input") == 0) {
		const char *title = rt_jstr(args, "title"), *content = rt_jstr(args, "content");
		o->o_next = RT_FINISH;
		o->o_to = R(INTERRUPTED);
		snprintf(o->o_code, sizeof(o->o_code), "AWAITING_USER_INPUT");
		o->o_task_to = T(BLOCKED);
		o->o_input_title = xstrndup(title != NULL && title[0] ? title : "Input needed", 160);
		o->o_input_content = xstrdup(content != NULL ? content : "");
		*is_error = 0;
		dbuf_addstr(out, "waiting for the operator's input");
		goto done;
	}
	if (strcmp(call->tc_name, "append_log") == 0) {
		const char *msg = rt_jstr(args, "message"), *level = rt_jstr(args, "level");
		int lv = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO;
		if (level != NULL && strcmp(level, "debug") == 0)
			lv = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_DEBUG;
		else if (level != NULL && strcmp(level, "warning") == 0)
			lv = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_WARNING;
		else if (level != NULL && strcmp(level, "error") == 0)
			lv = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_ERROR;
		if (msg == NULL || msg[0] == '\0' || o->o_n_logs >= MAX_LOGS) {
			dbuf_addstr(out, msg == NULL || msg[0] == '\0' ? "message is required" : "too many log lines");
			goto done;
		}
		o->o_logs[o->o_n_logs].level = lv;
		o->o_logs[o->o_n_logs++].message = xstrndup(msg, utf8_cut(msg, strnlen(msg, 16384)));
		*is_error = 0;
		dbuf_addstr(out, "logged");
		goto done;
	}
	/* The file tools work in the project's workspace. */
	if (gateway_open(r->r_root, NULL, &g, &st) != 0) {
		dbuf_printf(out, "workspace unavailable: %s", st.message);
		goto done;
	}
	if (strcmp(call->tc_name, "read_file") == 0) {
		char *data = NULL;
		size_t len = 0;
		if (gateway_read_file(g, path != NULL ? path : "", &data, &len, &st) == 0) {
			dbuf_add(out, data, len);
			free(data);
			failed = 0;
		}
	} else if (strcmp(call->tc_name, "write_file") == 0) {
		const char *content = rt_jstr(args, "content");
		size_t len = content != NULL ? strlen(content) : 0;
		if (gateway_write_file(g, path != NULL ? path : "", content != NULL ? content : "", len, &st) == 0) {
			dbuf_printf(out, "wrote %zu bytes to %s", len, path);
			failed = 0;
		}
	} else if (strcmp(call->tc_name, "list_path") == 0) {
		struct gateway_listing l;
		if (gateway_list(g, path != NULL && path[0] ? path : ".", &l, &st) == 0) {
			for (size_t i = 0; i < l.gl_n; i++)
				if (dbuf_printf(out, "%s%s\t%lld\n", l.gl_entries[i].ge_name,
						l.gl_entries[i].ge_kind == GATEWAY_KIND_DIR ? "/" : "",
						(long long)l.gl_entries[i].ge_size) != 0)
					break;
			if (l.gl_n == 0)
				dbuf_addstr(out, "(empty)\n");
			gateway_listing_free(&l);
			failed = 0;
		}
	} else if (strcmp(call->tc_name, "search_files") == 0) {
		struct gateway_search_result sr;
		const char *query = rt_jstr(args, "query");
		if (gateway_search(g, path != NULL && path[0] ? path : ".", query != NULL ? query : "", 50, &sr, &st) ==
		    0) {
			for (size_t i = 0; i < sr.gs_n; i++)
				if (dbuf_printf(out, "%s:%d: %s\n", sr.gs_matches[i].gm_path, sr.gs_matches[i].gm_line,
						sr.gs_matches[i].gm_text) != 0)
					break;
			if (sr.gs_n == 0)
				dbuf_addstr(out, "no matches\n");
			gateway_search_free(&sr);
			failed = 0;
		}
	} else {
		dbuf_printf(out, "unknown tool %s", call->tc_name);
		goto done;
	}
	*is_error = failed;
	if (failed) {
		if (strcmp(st.reason, "WORKSPACE_PERMISSION_DENIED") == 0) {
			/* SPEC section 7: never a crash or a silent failure. */
			o->o_next = RT_FINISH;
			o->o_to = R(FAILED);
			o->o_task_to = T(BLOCKED);
			snprintf(o->o_code, sizeof(o->o_code), "WORKSPACE_PERMISSION_DENIED");
			o->o_message = xstrdup(st.message);
			o->o_denied_path = xstrdup(path != NULL ? path : "");
		}
		dbuf_printf(out, "%s: %s", st.reason, st.message);
	}
done:
	gateway_close(g);
	json_decref(args);
}

/* ---- step 1: decide -------------------------------------------------------- */

static enum retry_transport rt_transport(enum http_outcome o)
{
	return o == HTTP_OUTCOME_TIMEOUT             ? RETRY_TRANSPORT_TIMEOUT
	       : o == HTTP_OUTCOME_CONNECTION_FAILED ? RETRY_TRANSPORT_CONNECTION_FAILED
						     : RETRY_TRANSPORT_OK;
}

static void rt_ep_action(struct rt_batch *b, struct rt_endpoint *ep, int open)
{
	struct rt_ep_action *a = xcalloc(1, sizeof(*a));

	a->a_ep = ep;
	a->a_open = open;
	a->a_next = b->b_actions;
	b->b_actions = a;
}

/* A breaker closed: the runs it held start spread over the release window. */
static void rt_schedule_release(struct runtime *rt, struct rt_endpoint *ep)
{
	int64_t n = 0, now = clock_now_ms();
	bbb_status st;

	status_clear(&st);
	if (store_run_held_count(rt->rt_db, ep->ep_provider, now + rt->rt_opt.ro_release_spread_ms, &n, &st) != 0)
		log_warn("runtime", "cannot count the runs held for %s: %s %s", ep->ep_key, st.reason, st.message);
	free(ep->ep_release);
	ep->ep_release = NULL;
	ep->ep_release_n = ep->ep_release_i = 0;
	if (n == 0)
		return;
	ep->ep_release = xcalloc((size_t)n, sizeof(*ep->ep_release));
	breaker_release_offsets((size_t)n, rt->rt_opt.ro_release_spread_ms, rt_random(rt), ep->ep_release);
	for (int64_t i = 0; i < n; i++)
		ep->ep_release[i] += now;
	ep->ep_release_n = (size_t)n;
}

static void rt_storm_note(struct runtime *rt, struct rt_batch *b)
{
	int64_t now = clock_mono_ms(), n = 0;

	rt->rt_storm[rt->rt_storm_i] = now;
	rt->rt_storm_i = (rt->rt_storm_i + 1) % 64;
	if (rt->rt_storm_n < 64)
		rt->rt_storm_n++;
	for (int i = 0; i < rt->rt_storm_n; i++)
		n += now - rt->rt_storm[i] <= 60000;
	if (n > rt->rt_opt.ro_storm_threshold && !rt->rt_storm_alert) {
		rt->rt_storm_alert = 1;
		b->b_storm = 1;
	}
}

/* Step 1 for one completion. */
static void rt_decide(struct runtime *rt, struct rt_batch *b, struct rt_completion *c, struct rt_outcome *o)
{
	struct rt_run *r = c->c_run;
	struct provider_reply reply;
	struct retry_class cls = {0};
	int have_reply = 0, echo = strcmp(r->r_provider, "echo") == 0;
	bbb_status st;

	memset(&reply, 0, sizeof(reply));
	status_clear(&st);
	o->o_run = r;
	r->r_http_id = 0;
	beebeebrain__v1__run_attempt__init(&o->o_attempt);
	o->o_attempt.run_id = r->r_id;
	o->o_attempt.n = c->c_no_call ? 0 : ++r->r_attempt_n;
	o->o_attempt.started_at_ms = r->r_call_started;
	o->o_attempt.ended_at_ms = c->c_ended;
	o->o_attempt.http_status = (int32_t)c->c_status;
	o->o_attempt.retry_after_ms = c->c_retry_after_ms > 0 ? c->c_retry_after_ms : 0;
	o->o_attempt.error_code = "";
	o->o_next = RT_FINISH;

	if (r->r_abort != RT_ABORT_NONE || c->c_outcome == HTTP_OUTCOME_CANCELLED) {
		const char *why = r->r_abort == RT_ABORT_PAUSED     ? "TASK_PAUSED"
				  : r->r_abort == RT_ABORT_SHUTDOWN ? "SHUTTING_DOWN"
								    : "TASK_CANCELLED";
		snprintf(o->o_code, sizeof(o->o_code), "%s", why);
		o->o_attempt.error_code = (char *)(r->r_abort == RT_ABORT_PAUSED     ? "TASK_PAUSED"
						   : r->r_abort == RT_ABORT_SHUTDOWN ? "SHUTTING_DOWN"
										     : "TASK_CANCELLED");
		o->o_to = r->r_abort == RT_ABORT_CANCELLED ? R(CANCELLED) : R(INTERRUPTED);
		/* The pause or cancel that aborted the call has already moved the
		 * task, and the operator may have moved it again since (a resume
		 * right after the pause): mapping the run's outcome onto the task
		 * would undo that, e.g. leave a resumed task blocked for good. An
		 * interrupted run of a running task is simply due again. */
		o->o_keep_task = 1;
		if (!echo)
			breaker_record(&r->r_ep->ep_breaker, clock_mono_ms(), r->r_admit, BREAKER_ABANDONED);
		if (c->c_have_reply)
			provider_reply_free(&c->c_reply);
		return;
	}

	/* Classify the call. */
	if (c->c_have_reply) {
		reply = c->c_reply;
		have_reply = 1;
	} else if (c->c_outcome == HTTP_OUTCOME_OK && c->c_status >= 200 && c->c_status < 300) {
		const struct provider_ops *ops = provider_find(r->r_provider);
		have_reply = ops != NULL && ops->p_parse != NULL && ops->p_parse(c->c_body, c->c_len, &reply, &st) == 0;
	}
	if (c->c_outcome == HTTP_OUTCOME_LOCAL_ERROR) {
		cls.rc_code = "LLM_INVALID_REQUEST";
		cls.rc_verdict = RETRY_FINAL;
	} else {
		struct retry_attempt ra = {
			.ra_transport = rt_transport(c->c_outcome),
			.ra_http_status = (int)c->c_status,
			.ra_body = c->c_body,
			.ra_body_len = c->c_len,
			.ra_body_ok = have_reply,
		};
		retry_classify(&ra, &cls);
	}
	if (!echo && c->c_outcome != HTTP_OUTCOME_LOCAL_ERROR) {
		int failed = cls.rc_verdict == RETRY_RETRYABLE || cls.rc_verdict == RETRY_RETRYABLE_ONCE;
		enum breaker_transition tr = breaker_record(&r->r_ep->ep_breaker, clock_mono_ms(), r->r_admit,
							    failed ? BREAKER_FAILURE : BREAKER_SUCCESS);
		if (tr == BREAKER_TR_OPENED && !r->r_ep->ep_open_alert) {
			r->r_ep->ep_open_alert = 1;
			rt_ep_action(b, r->r_ep, 1);
		} else if (tr == BREAKER_TR_CLOSED && r->r_ep->ep_open_alert) {
			r->r_ep->ep_open_alert = 0;
			rt_ep_action(b, r->r_ep, 0);
			rt_schedule_release(rt, r->r_ep);
		}
	}
	r->r_admit = BREAKER_ADMITTED; /* a next turn takes its own admission (rt_next_turn) */

	if (cls.rc_code == NULL && have_reply) {
		struct pricing_cost pc;
		pricing_cost(rt->rt_pricing, r->r_provider, r->r_model, reply.r_tokens_in, reply.r_tokens_out, &pc);
		o->o_attempt.token_in = reply.r_tokens_in;
		o->o_attempt.token_out = reply.r_tokens_out;
		o->o_attempt.price_in_usd_micros_per_mtok = pc.pc_price.pp_in_micros_per_mtok;
		o->o_attempt.price_out_usd_micros_per_mtok = pc.pc_price.pp_out_micros_per_mtok;
		o->o_cost = pc.pc_usd_micros;
		o->o_resolve_error = r->r_ep->ep_error_alert;
		r->r_ep->ep_error_alert = 0;
		provider_conv_add_reply(&r->r_conv, &reply, &st);
		if (reply.r_n_calls == 0) {
			o->o_to = R(SUCCEEDED);
			o->o_output = xstrdup(reply.r_text);
		} else {
			o->o_next = RT_CONTINUE;
			for (size_t i = 0; i < reply.r_n_calls; i++) {
				struct dbuf out;
				int is_error;
				dbuf_init(&out, TOOL_RESULT_MAX);
				rt_tool(r, &reply.r_calls[i], o, &out, &is_error);
				char *res = dbuf_take_marked(&out);
				provider_conv_add_tool_result(&r->r_conv, reply.r_calls[i].tc_id, res, is_error, &st);
				free(res);
				if (o->o_next == RT_FINISH)
					break;
			}
			if (o->o_next == RT_CONTINUE && r->r_turn >= r->r_max_turns) {
				o->o_next = RT_FINISH;
				o->o_to = R(FAILED);
				snprintf(o->o_code, sizeof(o->o_code), "MAX_TURNS_EXCEEDED");
				o->o_message =
					xasprintf("the agent used all %d turns without finishing", r->r_max_turns);
			}
		}
		provider_reply_free(&reply);
		return;
	}
	if (have_reply)
		provider_reply_free(&reply);

	/* A failed call: retry with backoff, or fail the run. */
	if (cls.rc_code == NULL)
		cls.rc_code = "LLM_PROTOCOL_ERROR"; /* a 2xx whose answer could not be used */
	struct retry_decision d;
	struct retry_state rs = {
		.rs_attempt = r->r_retry_count + 1,
		.rs_protocol_errors =
			r->r_protocol_errors + (cls.rc_code != NULL && strcmp(cls.rc_code, "LLM_PROTOCOL_ERROR") == 0),
		.rs_retry_after_ms = c->c_retry_after_ms,
	};
	char detail[300] = "";
	retry_decide(&rt->rt_opt.ro_retry, &cls, &rs, rt_random(rt), &d);
	o->o_attempt.error_code = (char *)cls.rc_code;
	snprintf(o->o_code, sizeof(o->o_code), "%s", cls.rc_code);
	provider_error_message(c->c_body, c->c_len, detail, sizeof(detail));
	o->o_message =
		xasprintf("%s after %lld ms (HTTP %ld)%s%s", cls.rc_code, (long long)(c->c_ended - r->r_call_started),
			  c->c_status, detail[0] ? ": " : "", detail);
	if (d.rd_retry) {
		o->o_to = R(RETRY_SCHEDULED);
		o->o_next_retry_at = clock_now_ms() + d.rd_delay_ms;
		rt_storm_note(rt, b);
		if (!echo && strcmp(cls.rc_code, "LLM_PROVIDER_UNAVAILABLE") != 0 && !r->r_ep->ep_error_alert) {
			r->r_ep->ep_error_alert = 1;
			o->o_error_alert = 1;
		}
	} else {
		o->o_to = R(FAILED);
	}
}

/* ---- step 2: apply --------------------------------------------------------- */

static int rt_log(struct taskop_ctx *c, const struct rt_run *r, int level, const char *message, bbb_status *st)
{
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__RunLog rl = BEEBEEBRAIN__V1__RUN_LOG__INIT;
	/* Redacted before it is cut to the log's limit, so that no secret is left
	 * in half where its configured value would no longer match. */
	char *text = (char *)redact_text(c->o_arena, message);

	if (strlen(text) > RT_LOG_MAX)
		text = arena_strndup(c->o_arena, text, utf8_cut(text, RT_LOG_MAX));
	rl.run_id = r->r_id;
	rl.level = level;
	rl.message = text;
	rl.source = "agent";
	ev.project_id = r->r_project_id;
	ev.task_id = r->r_task_id;
	ev.run_id = r->r_id;
	ev.event_type = "run.log";
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_LOG;
	ev.run_log = &rl;
	if (taskop_event(c, &ev, st) != 0)
		return -1;
	l.project_id = r->r_project_id;
	l.task_id = r->r_task_id;
	l.run_id = r->r_id;
	l.level = level;
	l.source = "agent";
	l.message = text;
	l.trace_id = "";
	l.event_id = ev.id;
	return store_log_insert(c->o_db, &l, st);
}

static int rt_usage(struct taskop_ctx *c, const struct rt_outcome *o, bbb_status *st)
{
	const struct rt_run *r = o->o_run;
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__UsageRecorded u = BEEBEEBRAIN__V1__USAGE_RECORDED__INIT;

	if (o->o_attempt.token_in == 0 && o->o_attempt.token_out == 0)
		return 0;
	if (store_run_add_usage(c->o_db, r->r_id, o->o_attempt.token_in, o->o_attempt.token_out, o->o_cost, st) != 0 ||
	    store_usage_daily_add(c->o_db, r->r_provider, r->r_model, o->o_attempt.ended_at_ms, o->o_attempt.token_in,
				  o->o_attempt.token_out, o->o_cost, st) != 0)
		return -1;
	u.run_id = r->r_id;
	u.provider = r->r_provider;
	u.model = r->r_model;
	u.token_in = o->o_attempt.token_in;
	u.token_out = o->o_attempt.token_out;
	u.cost_usd_micros = o->o_cost;
	ev.project_id = r->r_project_id;
	ev.task_id = r->r_task_id;
	ev.run_id = r->r_id;
	ev.event_type = "usage.recorded";
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_USAGE_RECORDED;
	ev.usage_recorded = &u;
	return taskop_event(c, &ev, st);
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

/* The run's outcome: run status, then the task's, then inbox and alerts. */
static int rt_finish(struct taskop_ctx *c, const struct rt_outcome *o, bbb_status *st)
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
	if (o->o_to == R(RETRY_SCHEDULED)) {
		run->next_retry_at_ms = o->o_next_retry_at;
		run->retry_count++;
	}
	if (taskop_run_set_status(c, r->r_project_id, run, o->o_to, o->o_code, o->o_message ? o->o_message : "", st) !=
	    0)
		return -1;
	if (store_task_get(c->o_db, r->r_task_id, c->o_arena, &task, st) != 0)
		return -1;
	to_task = o->o_keep_task ? 0 : o->o_task_to != 0 ? o->o_task_to : task_status_after_run(o->o_to);
	if (to_task != 0 && to_task != task->status && task_transition_allowed(task->status, to_task) &&
	    taskop_set_status(c, task, to_task, st) != 0)
		return -1;
	if (o->o_to == R(SUCCEEDED) &&
	    rt_inbox(c, r, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_TASK_COMPLETED,
		     arena_printf(c->o_arena, "Review: task %lld finished", (long long)r->r_task_id),
		     o->o_output != NULL ? o->o_output : "", st) != 0)
		return -1;
	if (o->o_input_title != NULL &&
	    rt_inbox(c, r, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_AWAIT_USER_INPUT, o->o_input_title,
		     o->o_input_content, st) != 0)
		return -1;
	if (o->o_denied_path != NULL) {
		char *key = arena_printf(c->o_arena, "WORKSPACE_PERMISSION_DENIED:%lld:%s", (long long)r->r_project_id,
					 o->o_denied_path);
		char *msg = arena_printf(c->o_arena,
					 "Run %lld could not write %s in the workspace %s: %s. Fix the permissions "
					 "(owner, mode, read-only mount), then close this item to resume the task.",
					 (long long)r->r_id, o->o_denied_path, r->r_root,
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

static int rt_apply_one(struct taskop_ctx *c, struct rt_outcome *o, bbb_status *st)
{
	const struct rt_run *r = o->o_run;

	/* n == 0: no call was made (an aborted parked turn), so no attempt row. */
	if ((o->o_attempt.n > 0 && store_attempt_insert(c->o_db, &o->o_attempt, st) != 0) || rt_usage(c, o, st) != 0)
		return -1;
	for (int i = 0; i < o->o_n_logs; i++)
		if (rt_log(c, r, o->o_logs[i].level, o->o_logs[i].message, st) != 0)
			return -1;
	if (o->o_error_alert) {
		struct alert_spec spec = {
			.as_code = o->o_code,
			.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_WARNING,
			.as_dedup_key = arena_printf(c->o_arena, "LLM_CALL_ERRORS:%s", r->r_ep->ep_key),
			.as_title =
				arena_printf(c->o_arena, "%s calls to %s are failing", r->r_provider, r->r_ep->ep_key),
			.as_message = o->o_message != NULL ? o->o_message : o->o_code,
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
	return o->o_next == RT_FINISH ? rt_finish(c, o, st) : 0;
}

/* Breaker open: alert + incident item; closed: both resolved. */
static int rt_apply_endpoint(struct taskop_ctx *c, const struct rt_ep_action *a, bbb_status *st)
{
	char *key = arena_printf(c->o_arena, "LLM_PROVIDER_UNAVAILABLE:%s", a->a_ep->ep_key);
	int64_t alert_id = 0;
	Beebeebrain__V1__InboxItem *it = NULL;
	Beebeebrain__V1__Alert *open = NULL;

	if (!a->a_open) {
		/* The incident item is the one whose source is the open alert. */
		if (store_alert_find_open(c->o_db, key, c->o_arena, &open, st) < 0)
			return -1;
		alert_id = open != NULL ? open->id : 0;
		if (alert_resolve(c->o_db, key, "", NULL, st) != 0)
			return -1;
		if (alert_id == 0 ||
		    store_inbox_open_for(c->o_db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT, alert_id,
					 c->o_arena, &it, st) != 0 ||
		    it == NULL)
			return 0;
		return taskop_inbox_close(c, it, "runtime", "", st);
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
		      "they resume, spread out, once a probe call succeeds. See docs/runbook.md (LLM timeouts).";
	return taskop_inbox_create(c, it, st);
}

struct rt_apply_arg {
	struct taskop_ctx *aa_ctx;
	struct rt_outcome *aa_outcome;
};

static int rt_apply_one_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct rt_apply_arg *aa = arg;

	(void)db;
	return rt_apply_one(aa->aa_ctx, aa->aa_outcome, st);
}

static int rt_apply_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct rt_batch *b = arg;
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};

	arena_init(&a);
	/* Each outcome in a savepoint of its own, so one that cannot be recorded
	 * leaves the others; one that made SQLite roll the whole transaction
	 * back ends the batch: nothing of it will commit, and the caller must
	 * hear so. */
	for (struct rt_outcome *o = b->b_outcomes; o != NULL; o = o->o_next_outcome) {
		struct rt_apply_arg aa = {&c, o};
		bbb_status one;
		enum store_sp_result rc;

		status_clear(&one);
		rc = store_savepoint(db, "o", rt_apply_one_write, &aa, &one);
		if (rc == STORE_SP_OK)
			continue;
		log_error("runtime", "run %lld: cannot record its call: %s %s", (long long)o->o_run->r_id, one.reason,
			  one.message);
		if (rc == STORE_SP_TX_LOST) {
			*st = one;
			arena_reset(&a);
			return -1;
		}
		if (strcmp(one.reason, "DB_LOCKED") == 0)
			*st = one;
	}
	for (struct rt_ep_action *ac = b->b_actions; ac != NULL; ac = ac->a_next) {
		bbb_status one;
		status_clear(&one);
		if (rt_apply_endpoint(&c, ac, &one) != 0)
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
		alert_raise(db, &spec, NULL, NULL, st);
	}
	arena_reset(&a);
	return 0;
}

static void rt_outcome_free(struct rt_outcome *o)
{
	free(o->o_message);
	free(o->o_output);
	free(o->o_input_title);
	free(o->o_input_content);
	free(o->o_denied_path);
	for (int i = 0; i < o->o_n_logs; i++)
		free(o->o_logs[i].message);
	free(o);
}

void rt_apply_completions(struct runtime *rt, struct rt_completion *list)
{
	struct rt_batch b = {.b_rt = rt};
	struct rt_outcome **tail = &b.b_outcomes;
	bbb_status st;

	/* 1. decide */
	while (list != NULL) {
		struct rt_completion *c = list;
		struct rt_outcome *o = xcalloc(1, sizeof(*o));
		list = c->c_next;
		if (o != NULL) {
			rt_decide(rt, &b, c, o);
			*tail = o;
			tail = &o->o_next_outcome;
		}
		free(c->c_body);
		free(c);
	}
	/* 2. apply, in one transaction */
	status_clear(&st);
	if (store_write(rt->rt_store, rt_apply_write, &b, 0, &st) != 0)
		log_error("runtime", "cannot record provider calls: %s %s", st.reason, st.message);
	/* 3. next turns, and finished runs go */
	while (b.b_outcomes != NULL) {
		struct rt_outcome *o = b.b_outcomes;
		b.b_outcomes = o->o_next_outcome;
		if (o->o_next == RT_CONTINUE && rt_next_turn(rt, o->o_run) == 0) {
			rt_outcome_free(o);
			continue;
		}
		rt_unlink_run(rt, o->o_run);
		rt_run_free(o->o_run);
		rt_outcome_free(o);
	}
	while (b.b_actions != NULL) {
		struct rt_ep_action *next = b.b_actions->a_next;
		free(b.b_actions);
		b.b_actions = next;
	}
}
