/*
 * The dispatcher thread: recovery, scheduling of due runs, pause and cancel
 * of runs in flight, autorun, and the endpoints' breakers. What happens to a
 * run once it is started lives in agent_loop.c. See runtime.h.
 */
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "runtime/runtime_internal.h"
#include "ops/task_ops.h"
#include "store/event_store.h"
#include "store/run_store.h"
#include "store/task_store.h"
#include "workspace/gateway.h"

#define RT_TICK_MS 200
#define RT_AUTORUN_EVERY_MS 1000

extern const char pricing_builtin_json[];

static int64_t env_int(const char *name, int64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	long long n;

	if (v == NULL || v[0] == '\0')
		return dflt;
	n = strtoll(v, &end, 10);
	return *end == '\0' && n >= 0 ? n : dflt;
}

void runtime_options_from_env(struct runtime_options *o)
{
	const char *cost = getenv("BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD");

	o->ro_max_in_flight = (int)env_int("BEEBEEBRAIN_MAX_IN_FLIGHT", 64);
	o->ro_llm_timeout_ms = env_int("BEEBEEBRAIN_LLM_TIMEOUT_S", 90) * 1000;
	o->ro_retry.rp_max_attempts = (int)env_int("BEEBEEBRAIN_RETRY_MAX_ATTEMPTS", 4);
	o->ro_retry.rp_base_ms = env_int("BEEBEEBRAIN_RETRY_BASE_MS", 2000);
	o->ro_retry.rp_max_ms = env_int("BEEBEEBRAIN_RETRY_MAX_MS", 300000);
	o->ro_breaker.bc_cooldown_ms = env_int("BEEBEEBRAIN_BREAKER_COOLDOWN_MS", 30000);
	o->ro_release_spread_ms = env_int("BEEBEEBRAIN_RELEASE_SPREAD_MS", 10000);
	o->ro_detector_interval_ms = env_int("BEEBEEBRAIN_DETECTOR_INTERVAL_MS", 60000);
	o->ro_idle_timeout_ms = env_int("BEEBEEBRAIN_IDLE_TIMEOUT_S", 600) * 1000;
	o->ro_cost_threshold_micros = cost != NULL ? (int64_t)(strtod(cost, NULL) * 1e6) : 0;
	o->ro_pricing_path = getenv("BEEBEEBRAIN_PRICING");
	const char *runtime = getenv("BEEBEEBRAIN_RUNTIME");
	o->ro_paused = runtime != NULL && strcmp(runtime, "off") == 0;
}

uint64_t rt_random(struct runtime *rt)
{
	return retry_splitmix64(&rt->rt_rand);
}

struct rt_endpoint *rt_endpoint_for(struct runtime *rt, const char *provider)
{
	struct rt_endpoint *ep;
	const char *base = "";
	char key[300];

	if (strcmp(provider, "anthropic") == 0)
		base = getenv("ANTHROPIC_BASE_URL") ? getenv("ANTHROPIC_BASE_URL") : "https://api.anthropic.com";
	else if (strcmp(provider, "openai") == 0)
		base = getenv("OPENAI_BASE_URL") ? getenv("OPENAI_BASE_URL") : "https://api.openai.com/v1";
	snprintf(key, sizeof(key), "%s %.256s", provider, base);
	for (ep = rt->rt_endpoints; ep != NULL; ep = ep->ep_next)
		if (strcmp(ep->ep_key, key) == 0)
			return ep;
	ep = xcalloc(1, sizeof(*ep));
	snprintf(ep->ep_key, sizeof(ep->ep_key), "%s", key);
	snprintf(ep->ep_provider, sizeof(ep->ep_provider), "%s", provider);
	snprintf(ep->ep_base_url, sizeof(ep->ep_base_url), "%s", base);
	ep->ep_ep.pe_base_url = ep->ep_base_url[0] != '\0' ? ep->ep_base_url : NULL;
	ep->ep_ep.pe_api_key = strcmp(provider, "anthropic") == 0 ? getenv("ANTHROPIC_API_KEY")
			       : strcmp(provider, "openai") == 0  ? getenv("OPENAI_API_KEY")
								  : NULL;
	breaker_init(&ep->ep_breaker, &rt->rt_opt.ro_breaker);
	ep->ep_next = rt->rt_endpoints;
	rt->rt_endpoints = ep;
	return ep;
}

/* ---- recovery ---------------------------------------------------------- */

static int rt_recover_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};
	Beebeebrain__V1__TaskRun **runs;
	size_t n = 0;
	int more = 1, rc = 0;
	int *count = arg;

	arena_init(&a);
	while (rc == 0 && more) {
		if (store_run_list(db, 0, BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING, 0, 100, &a, &runs, &n, &more,
				   st) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < n && rc == 0; i++) {
			int64_t project_id = 0, task_id = 0;
			if ((rc = store_run_project(db, runs[i]->id, &project_id, &task_id, st)) != 0)
				break;
			rc = taskop_run_set_status(
				&c, project_id, runs[i], BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_INTERRUPTED,
				"PROCESS_RESTARTED", "the server restarted while the run was in flight", st);
			(*count)++;
		}
		if (n == 0)
			break;
	}
	arena_reset(&a);
	return rc;
}

/* ---- scheduling --------------------------------------------------------- */

static struct rt_run *rt_find_run(struct runtime *rt, int64_t run_id)
{
	for (struct rt_run *r = rt->rt_runs; r != NULL; r = r->r_next)
		if (r->r_id == run_id)
			return r;
	return NULL;
}

static int rt_agent_busy(struct runtime *rt, int64_t agent_id, int limit)
{
	int n = 0;

	for (struct rt_run *r = rt->rt_runs; r != NULL && agent_id != 0; r = r->r_next)
		n += r->r_agent_id == agent_id;
	return agent_id != 0 && n >= limit;
}

/* A held run of an endpoint whose breaker just closed starts only at its
 * release time, so they do not all hit the provider at once. */
static int rt_release_wait(struct rt_endpoint *ep, int64_t now)
{
	if (ep->ep_release_i >= ep->ep_release_n)
		return 0;
	if (now < ep->ep_release[ep->ep_release_i])
		return 1;
	ep->ep_release_i++;
	return 0;
}

struct rt_start {
	int64_t s_run_id;
	enum breaker_admit s_admit;
	struct rt_run *s_run; /* set by the write when the run could start */
	struct rt_start *s_next;
};

static char **rt_split_tools(const char *csv, size_t *n)
{
	char **out = NULL, *copy = xstrdup(csv), *save = NULL;

	*n = 0;
	for (char *t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		char **grown = xrealloc(out, (*n + 1) * sizeof(*out));
		out = grown;
		out[(*n)++] = xstrdup(t);
	}
	free(copy);
	return out;
}

/* Moves the selected runs to running and builds their in-flight state. */
struct rt_start_arg {
	struct taskop_ctx *sa_ctx;
	int64_t sa_project_id;
	Beebeebrain__V1__TaskRun *sa_run;
};

static int rt_start_one_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct rt_start_arg *sa = arg;

	(void)db;
	return taskop_run_set_status(sa->sa_ctx, sa->sa_project_id, sa->sa_run,
				     BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING, "", "", st);
}

static int rt_start_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct runtime *rt = ((void **)arg)[0];
	struct rt_start *list = ((void **)arg)[1];
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "runtime"};

	arena_init(&a);
	for (struct rt_start *s = list; s != NULL; s = s->s_next) {
		Beebeebrain__V1__TaskRun *run;
		Beebeebrain__V1__Task *task;
		bbb_status one;

		status_clear(&one);
		if (store_run_get(db, s->s_run_id, &a, &run, &one) != 0 || !run_is_active(run->run_status) ||
		    run->run_status == BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RUNNING)
			continue;
		if (store_task_get(db, run->task_id, &a, &task, &one) != 0 ||
		    task->status != BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_RUNNING)
			continue;
		/* What the run row does not carry comes from its agent and project. */
		struct store_run_exec ex;
		if (store_run_exec_settings(db, run->id, &a, &ex, &one) != 0) {
			log_warn("runtime", "cannot start run %lld: %s %s", (long long)run->id, one.reason,
				 one.message);
			continue;
		}
		if (run->started_at_ms == 0)
			run->started_at_ms = clock_now_ms();
		struct rt_start_arg sa = {&c, task->project_id, run};
		enum store_sp_result rc = store_savepoint(db, "s", rt_start_one_write, &sa, &one);
		if (rc == STORE_SP_TX_LOST) {
			*st = one;
			arena_reset(&a);
			return -1; /* the caller starts none of them */
		}
		if (rc != STORE_SP_OK) {
			log_warn("runtime", "cannot start run %lld: %s", (long long)run->id, one.message);
			continue;
		}

		struct rt_run *r = xcalloc(1, sizeof(*r));
		r->r_id = run->id;
		r->r_task_id = run->task_id;
		r->r_project_id = task->project_id;
		r->r_agent_id = run->agent_id;
		r->r_provider = xstrdup(run->provider[0] ? run->provider : "echo");
		r->r_model = xstrdup(run->model[0] ? run->model : "echo");
		r->r_retry_count = run->retry_count;
		provider_conv_init(&r->r_conv);
		r->r_max_turns = run->max_turns;
		r->r_timeout_ms = (int64_t)run->timeout_seconds * 1000;
		r->r_root = xstrdup(ex.re_root);
		if (run->system_prompt[0] != '\0')
			provider_conv_set_system(&r->r_conv, run->system_prompt, &one);
		else if (ex.re_persona[0] != '\0')
			provider_conv_set_system(&r->r_conv, ex.re_persona, &one);
		r->r_tools = rt_split_tools(ex.re_tools, &r->r_n_tools);
		r->r_attempt_n = ex.re_last_attempt;
		r->r_protocol_errors = ex.re_protocol_errors;
		if (r->r_max_turns <= 0)
			r->r_max_turns = 8;
		if (r->r_timeout_ms <= 0)
			r->r_timeout_ms = rt->rt_opt.ro_llm_timeout_ms;
		provider_conv_add_user(&r->r_conv, run->prompt, &one);
		r->r_ep = rt_endpoint_for(rt, r->r_provider);
		r->r_admit = s->s_admit;
		s->s_run = r;
	}
	arena_reset(&a);
	return 0;
}

/* Starts due runs, best first, within the limits. */
static void rt_dispatch_due(struct runtime *rt)
{
	int slots = rt->rt_opt.ro_max_in_flight - rt->rt_n_runs;
	struct rt_start *starts = NULL, **tail = &starts;
	int64_t now = clock_now_ms();
	struct store_due_run *due;
	size_t n_due;
	struct arena a;
	bbb_status st;

	if (slots <= 0)
		return;
	arena_init(&a);
	status_clear(&st);
	if (store_run_due_list(rt->rt_db, now, slots * 4 + 16, &a, &due, &n_due, &st) != 0) {
		log_warn("runtime", "cannot list due runs: %s %s", st.reason, st.message);
		n_due = 0;
	}
	for (size_t i = 0; i < n_due && slots > 0; i++) {
		int64_t run_id = due[i].dr_run_id;
		int64_t agent_id = due[i].dr_agent_id;
		struct rt_endpoint *ep = rt_endpoint_for(rt, due[i].dr_provider[0] ? due[i].dr_provider : "echo");
		enum breaker_admit admit = BREAKER_ADMITTED;

		if (rt_find_run(rt, run_id) != NULL || rt_agent_busy(rt, agent_id, due[i].dr_agent_limit) || ep == NULL)
			continue;
		if (strcmp(ep->ep_provider, "echo") != 0) {
			if (rt_release_wait(ep, now))
				continue;
			admit = breaker_allow(&ep->ep_breaker, clock_mono_ms());
			if (admit == BREAKER_DENIED)
				continue; /* held while the breaker is open */
		}
		struct rt_start *s = xcalloc(1, sizeof(*s));
		s->s_run_id = run_id;
		s->s_admit = admit;
		*tail = s;
		tail = &s->s_next;
		slots--;
	}
	arena_reset(&a);
	if (starts == NULL)
		return;
	status_clear(&st);
	void *args[2] = {rt, starts};
	if (store_write(rt->rt_store, rt_start_write, args, 0, &st) != 0) {
		/* Nothing was committed: no run is running, whatever was prepared. */
		log_warn("runtime", "cannot start runs: %s %s", st.reason, st.message);
		for (struct rt_start *s = starts; s != NULL; s = s->s_next) {
			if (s->s_run != NULL)
				rt_run_free(s->s_run);
			s->s_run = NULL;
		}
	}
	while (starts != NULL) {
		struct rt_start *next = starts->s_next;
		struct rt_run *r = starts->s_run;
		if (r == NULL && starts->s_admit == BREAKER_PROBE) {
			/* The probe's run did not start after all: free the slot. */
			struct rt_endpoint *ep = rt->rt_endpoints;
			for (; ep != NULL; ep = ep->ep_next)
				if (breaker_state_at(&ep->ep_breaker, clock_mono_ms()) == BREAKER_HALF_OPEN)
					breaker_record(&ep->ep_breaker, clock_mono_ms(), BREAKER_PROBE,
						       BREAKER_ABANDONED);
		}
		if (r != NULL) {
			r->r_next = rt->rt_runs;
			rt->rt_runs = r;
			rt->rt_n_runs++;
			if (rt_run_first_call(rt, r) != 0) {
				rt_unlink_run(rt, r);
				rt_run_free(r);
			}
		}
		free(starts);
		starts = next;
	}
}

/* ---- pause and cancel of runs in flight ---------------------------------- */

/* Reads the status changes committed since the last look; a run in flight
 * whose task is no longer running (paused, cancelled) or whose own row was
 * moved by someone else (cancelled) has its call aborted. */
static void rt_check_changes(struct runtime *rt)
{
	struct store_status_change *ch;
	size_t n;
	int more = 1;
	struct arena a;
	bbb_status st;

	arena_init(&a);
	status_clear(&st);
	while (more) {
		if (store_event_status_changes(rt->rt_db, rt->rt_last_event, 500, &a, &ch, &n, &more, &st) != 0) {
			log_warn("runtime", "cannot read status changes: %s %s", st.reason, st.message);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			rt->rt_last_event = ch[i].sc_event_id;
			if (strcmp(ch[i].sc_task_status, "running") == 0)
				continue;
			for (struct rt_run *r = rt->rt_runs; r != NULL; r = r->r_next) {
				if (r->r_task_id != ch[i].sc_task_id || r->r_abort != RT_ABORT_NONE)
					continue;
				r->r_abort = strcmp(ch[i].sc_task_status, "blocked") == 0 ? RT_ABORT_PAUSED
											  : RT_ABORT_CANCELLED;
				rt_abort_call(rt, r);
			}
		}
		arena_reset(&a);
	}
	arena_reset(&a);
}

/* ---- autorun ------------------------------------------------------------- */

struct rt_autorun_arg {
	struct taskop_ctx *ra_ctx;
	int64_t ra_task_id;
	const struct run_request *ra_request;
};

static int rt_autorun_one_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct rt_autorun_arg *ra = arg;
	Beebeebrain__V1__TaskRun *run;

	(void)db;
	return taskop_queue_run(ra->ra_ctx, ra->ra_task_id, ra->ra_request, &run, NULL, st);
}

/* --autorun: a todo task with an assignee whose dependencies and parent are
 * done gets a run queued, with its first line of description as the prompt. */
static int rt_autorun_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct arena a;
	struct taskop_ctx c = {.o_db = db, .o_arena = &a, .o_trace_id = "", .o_actor = "autorun"};
	struct store_ready_task *ready;
	size_t n;
	int *queued = arg, rc = 0;

	arena_init(&a);
	if (store_task_autorun_ready(db, 32, &a, &ready, &n, st) != 0) {
		arena_reset(&a);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char key[64];
		bbb_status one;
		struct run_request rq = {
			.rr_prompt = ready[i].rt_description[0] != '\0' ? ready[i].rt_description : ready[i].rt_title,
			.rr_provider = "",
			.rr_model = "",
			.rr_system_prompt = "",
			.rr_key = key,
		};

		status_clear(&one);
		snprintf(key, sizeof(key), "autorun-%lld-%lld", (long long)ready[i].rt_task_id,
			 (long long)clock_now_ms());
		struct rt_autorun_arg aa = {&c, ready[i].rt_task_id, &rq};
		enum store_sp_result sp = store_savepoint(db, "q", rt_autorun_one_write, &aa, &one);
		if (sp == STORE_SP_OK)
			(*queued)++;
		if (sp == STORE_SP_TX_LOST) {
			/* Those queued before went with it. */
			*st = one;
			*queued = 0;
			rc = -1;
			break;
		}
	}
	arena_reset(&a);
	return rc;
}

static void rt_autorun(struct runtime *rt)
{
	int queued = 0;
	bbb_status st;

	status_clear(&st);
	if (store_write(rt->rt_store, rt_autorun_write, &queued, 0, &st) != 0)
		log_warn("runtime", "autorun: %s", st.message);
	else if (queued > 0)
		log_info("runtime", "autorun queued %d run(s)", queued);
}

/* ---- the thread ------------------------------------------------------------ */

static void *rt_main(void *arg)
{
	struct runtime *rt = arg;

	pthread_mutex_lock(&rt->rt_mu);
	while (!rt->rt_stopping || rt->rt_n_runs > 0) {
		struct timespec ts;
		struct rt_completion *done;
		int poked;

		if (rt->rt_done_head == NULL && !rt->rt_poked) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += RT_TICK_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&rt->rt_cv, &rt->rt_mu, &ts);
		}
		done = rt->rt_done_head;
		rt->rt_done_head = rt->rt_done_tail = NULL;
		poked = rt->rt_poked;
		rt->rt_poked = 0;
		int stopping = rt->rt_stopping;
		pthread_mutex_unlock(&rt->rt_mu);

		if (done != NULL)
			rt_apply_completions(rt, done);
		(void)poked;
		rt_check_changes(rt);
		if (stopping) {
			/* Interrupt what is still in flight; its completions come back. */
			for (struct rt_run *r = rt->rt_runs; r != NULL; r = r->r_next)
				if (r->r_abort == RT_ABORT_NONE) {
					r->r_abort = RT_ABORT_SHUTDOWN;
					rt_abort_call(rt, r);
				}
		} else if (!rt->rt_opt.ro_paused) {
			int64_t now = clock_mono_ms();
			rt_unpark(rt);
			rt_dispatch_due(rt);
			if (rt->rt_opt.ro_autorun && now >= rt->rt_next_autorun) {
				rt_autorun(rt);
				rt->rt_next_autorun = now + RT_AUTORUN_EVERY_MS;
			}
			if (now >= rt->rt_next_detect) {
				rt_detect(rt);
				rt->rt_next_detect = now + rt->rt_opt.ro_detector_interval_ms;
			}
		}
		pthread_mutex_lock(&rt->rt_mu);
	}
	pthread_mutex_unlock(&rt->rt_mu);
	return NULL;
}

void runtime_notify(void *p, int64_t last_event_id)
{
	struct runtime *rt = p;

	(void)last_event_id;
	pthread_mutex_lock(&rt->rt_mu);
	rt->rt_poked = 1;
	pthread_cond_signal(&rt->rt_cv);
	pthread_mutex_unlock(&rt->rt_mu);
}

int runtime_inject_fault(void *p, const char *mode, int count, bbb_status *st)
{
	struct runtime *rt = p;
	int n = count > 0 ? count : 1;

	if (strcmp(mode, "llm_timeout") == 0)
		atomic_store(&rt->rt_fault_timeout, n);
	else if (strcmp(mode, "llm_transient") == 0)
		atomic_store(&rt->rt_fault_transient, n);
	else if (strcmp(mode, "file_permission") == 0)
		gateway_fault_fail_writes(count > 0 ? count : -1);
	else
		return -1;
	(void)st;
	log_warn("fault", "injected %s for the next %d call(s)", mode, n);
	return 0;
}

static void rt_defaults(struct runtime_options *o)
{
	struct retry_policy rp = RETRY_POLICY_DEFAULT;
	struct breaker_config bc = BREAKER_CONFIG_DEFAULT;

	if (o->ro_max_in_flight <= 0)
		o->ro_max_in_flight = 64;
	if (o->ro_llm_timeout_ms <= 0)
		o->ro_llm_timeout_ms = 90000;
	if (o->ro_retry.rp_max_attempts <= 0)
		o->ro_retry.rp_max_attempts = rp.rp_max_attempts;
	if (o->ro_retry.rp_base_ms <= 0)
		o->ro_retry.rp_base_ms = rp.rp_base_ms;
	if (o->ro_retry.rp_max_ms <= 0)
		o->ro_retry.rp_max_ms = rp.rp_max_ms;
	if (o->ro_breaker.bc_consecutive <= 0)
		o->ro_breaker.bc_consecutive = bc.bc_consecutive;
	if (o->ro_breaker.bc_min_calls <= 0)
		o->ro_breaker.bc_min_calls = bc.bc_min_calls;
	if (o->ro_breaker.bc_failure_pct <= 0)
		o->ro_breaker.bc_failure_pct = bc.bc_failure_pct;
	if (o->ro_breaker.bc_window_ms <= 0)
		o->ro_breaker.bc_window_ms = bc.bc_window_ms;
	if (o->ro_breaker.bc_cooldown_ms <= 0)
		o->ro_breaker.bc_cooldown_ms = bc.bc_cooldown_ms;
	if (o->ro_breaker.bc_cooldown_max_ms <= 0)
		o->ro_breaker.bc_cooldown_max_ms = bc.bc_cooldown_max_ms > o->ro_breaker.bc_cooldown_ms
							   ? bc.bc_cooldown_max_ms
							   : o->ro_breaker.bc_cooldown_ms;
	if (o->ro_release_spread_ms <= 0)
		o->ro_release_spread_ms = 10000;
	if (o->ro_storm_threshold <= 0)
		o->ro_storm_threshold = 20;
	if (o->ro_detector_interval_ms <= 0)
		o->ro_detector_interval_ms = 60000;
	if (o->ro_idle_timeout_ms <= 0)
		o->ro_idle_timeout_ms = 600000;
}

int runtime_start(struct runtime **out, struct store *s, const struct runtime_options *o, bbb_status *st)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	struct http_loop_options ho = {0};
	pthread_condattr_t attr;
	int recovered = 0;

	rt->rt_store = s;
	rt->rt_opt = *o;
	rt_defaults(&rt->rt_opt);
	rt->rt_rand = (uint64_t)clock_now_ms() ^ (uint64_t)(uintptr_t)rt;
	rt->rt_pricing = rt->rt_opt.ro_pricing_path != NULL ? pricing_load_file(rt->rt_opt.ro_pricing_path, st)
							    : pricing_load_string(pricing_builtin_json, st);
	if (rt->rt_pricing == NULL) {
		free(rt);
		return -1;
	}
	if (store_write(s, rt_recover_write, &recovered, 0, st) != 0 || store_reader_open(s, &rt->rt_db, st) != 0 ||
	    http_loop_start(&ho, &rt->rt_http, st) != 0) {
		store_conn_close(rt->rt_db);
		pricing_free(rt->rt_pricing);
		free(rt);
		return -1;
	}
	if (recovered > 0)
		log_warn("runtime", "%d run(s) were in flight when the server stopped: interrupted, resuming them",
			 recovered);
	/* Only status changes from now on matter for runs in flight. */
	rt->rt_last_event = store_event_head(rt->rt_db);
	rt->rt_next_detect = clock_mono_ms() + rt->rt_opt.ro_detector_interval_ms;
	pthread_mutex_init(&rt->rt_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rt->rt_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&rt->rt_thread, NULL, rt_main, rt) != 0) {
		http_loop_stop(rt->rt_http);
		store_conn_close(rt->rt_db);
		pricing_free(rt->rt_pricing);
		free(rt);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the dispatcher");
	}
	*out = rt;
	return 0;
}

void runtime_stop(struct runtime *rt)
{
	if (rt == NULL)
		return;
	pthread_mutex_lock(&rt->rt_mu);
	rt->rt_stopping = 1;
	pthread_cond_signal(&rt->rt_cv);
	pthread_mutex_unlock(&rt->rt_mu);
	pthread_join(rt->rt_thread, NULL);
	http_loop_stop(rt->rt_http);
	while (rt->rt_endpoints != NULL) {
		struct rt_endpoint *next = rt->rt_endpoints->ep_next;
		free(rt->rt_endpoints->ep_release);
		free(rt->rt_endpoints);
		rt->rt_endpoints = next;
	}
	store_conn_close(rt->rt_db);
	pricing_free(rt->rt_pricing);
	pthread_mutex_destroy(&rt->rt_mu);
	pthread_cond_destroy(&rt->rt_cv);
	free(rt);
}
