/*
 * What the runtime's files share: the runtime itself, runs in flight,
 * endpoints with their circuit breakers, and completed provider calls.
 * Everything here belongs to the dispatcher thread, except the completion
 * queue (rt_mu) and the fault counters (atomic).
 */
#ifndef BBB_RUNTIME_INTERNAL_H
#define BBB_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "runtime/http_loop.h"
#include "runtime/pricing.h"
#include "runtime/provider.h"
#include "runtime/runtime.h"

/* One provider endpoint (provider + base URL) and its breaker. */
struct rt_endpoint {
	char ep_key[300]; /* "anthropic https://api.anthropic.com" */
	char ep_provider[16];
	struct provider_endpoint ep_ep;
	char ep_base_url[256];
	struct breaker ep_breaker;
	int ep_open_alert; /* LLM_PROVIDER_UNAVAILABLE raised, incident open */
	int ep_error_alert; /* an LLM_TIMEOUT / LLM_RATE_LIMITED ... alert is open */
	int64_t *ep_release; /* after the breaker closed: start times of held runs */
	size_t ep_release_n, ep_release_i;
	struct rt_endpoint *ep_next;
};

enum rt_abort { RT_ABORT_NONE = 0, RT_ABORT_PAUSED, RT_ABORT_CANCELLED, RT_ABORT_SHUTDOWN };

/* A run in flight: its conversation and the call it waits for. */
struct rt_run {
	int64_t r_id, r_task_id, r_project_id, r_agent_id;
	char *r_provider, *r_model, *r_root;
	struct provider_conv r_conv;
	char **r_tools;
	size_t r_n_tools;
	int r_turn, r_max_turns, r_retry_count, r_attempt_n, r_protocol_errors;
	int64_t r_timeout_ms;
	struct rt_endpoint *r_ep;
	enum breaker_admit r_admit;
	uint64_t r_http_id; /* 0 when no call is in flight */
	int r_parked; /* its next turn waits for the endpoint's breaker: no call in flight */
	int64_t r_call_started; /* wall ms */
	enum rt_abort r_abort;
	struct rt_run *r_next;
};

/* A provider call that ended, queued for the dispatcher. */
struct rt_completion {
	struct rt_run *c_run;
	enum http_outcome c_outcome;
	long c_status;
	char *c_body;
	size_t c_len;
	int64_t c_retry_after_ms; /* -1: none */
	int64_t c_ended; /* wall ms */
	struct provider_reply c_reply; /* echo: the answer itself */
	int c_have_reply;
	int c_no_call; /* nothing was sent (a parked turn was aborted): no attempt row */
	struct rt_completion *c_next;
};

struct runtime {
	struct store *rt_store;
	struct runtime_options rt_opt;
	sqlite3 *rt_db; /* the dispatcher's read connection */
	struct http_loop *rt_http;
	struct pricing *rt_pricing;
	pthread_t rt_thread;
	pthread_mutex_t rt_mu;
	pthread_cond_t rt_cv;
	int rt_stopping;
	int rt_poked; /* a commit or completion since the last look */
	struct rt_completion *rt_done_head, *rt_done_tail;
	struct rt_run *rt_runs; /* in flight */
	int rt_n_runs;
	struct rt_endpoint *rt_endpoints;
	int64_t rt_last_event; /* status-change events seen up to here */
	int64_t rt_storm[64]; /* times runs entered retry_scheduled (ring) */
	int rt_storm_n, rt_storm_i;
	int rt_storm_alert;
	uint64_t rt_rand;
	int64_t rt_next_detect, rt_next_autorun;
	atomic_int rt_fault_timeout, rt_fault_transient;
};

/* agent_loop.c: the life of a run once started. */
int rt_run_first_call(struct runtime *rt, struct rt_run *r);
/* Aborts what a run waits for (r_abort is set): its HTTP call, or its parked
 * turn; the completion comes back like any other. */
void rt_abort_call(struct runtime *rt, struct rt_run *r);
/* Makes the parked turns whose breaker lets them through now. */
void rt_unpark(struct runtime *rt);
void rt_apply_completions(struct runtime *rt, struct rt_completion *list);
void rt_run_free(struct rt_run *r);
void rt_unlink_run(struct runtime *rt, struct rt_run *r);
struct rt_endpoint *rt_endpoint_for(struct runtime *rt, const char *provider);
uint64_t rt_random(struct runtime *rt);

/* detectors.c */
void rt_detect(struct runtime *rt);

#endif
