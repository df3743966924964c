/*
 * The runtime's metrics (docs/metrics.md). Recorded: every provider call
 * that was made, by provider, endpoint and outcome, with its latency
 * (rt_metrics_call, on the dispatcher as it decides a completion).
 * Collected at scrape time from the snapshot the dispatcher publishes every
 * tick (runtime_status): calls in flight, runs held, each endpoint's breaker.
 */
#include <string.h>

#include "beebeebrain/v1/runtime.pb-c.h"
#include "common/arena.h"
#include "common/metrics.h"
#include "runtime/runtime_internal.h"

/* From the echo provider's microseconds to a long tool-using answer. */
static const double rt_llm_bounds[] = {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600};
static const char *const rt_llm_labels[] = {"provider", "endpoint", "outcome"};

void rt_metrics_init(struct rt_metrics *m)
{
	const struct metrics_spec calls = {
		METRICS_COUNTER,
		"beebeebrain_llm_calls_total",
		"Provider calls made, by provider, endpoint (base URL; \"local\" for the in-process echo provider) "
		"and outcome (ok, or the error code the call's run got, e.g. LLM_PROVIDER_UNAVAILABLE).",
		rt_llm_labels,
		3,
		NULL,
		0};
	const struct metrics_spec seconds = {
		METRICS_HISTOGRAM,
		"beebeebrain_llm_call_duration_seconds",
		"Time from a provider call's start to its end (answer, error, timeout), by provider and endpoint.",
		rt_llm_labels,
		2,
		rt_llm_bounds,
		sizeof(rt_llm_bounds) / sizeof(rt_llm_bounds[0])};

	m->m_llm_calls = metrics_family(metrics_default(), &calls);
	m->m_llm_seconds = metrics_family(metrics_default(), &seconds);
}

void rt_metrics_call(const struct rt_metrics *m, const struct rt_run *r, const struct rt_completion *c,
		     const struct run_outcome *ro)
{
	const char *outcome = ro->ro_call_ok ? "ok" : ro->ro_code[0] != '\0' ? ro->ro_code : "error";
	const char *endpoint = r->r_ep != NULL && r->r_ep->ep_base_url[0] != '\0' ? r->r_ep->ep_base_url : "local";
	const char *values[] = {r->r_provider, endpoint, outcome};
	int64_t ms = c->c_ended - r->r_call_started;

	metrics_add(m->m_llm_calls, values, 1);
	metrics_observe(m->m_llm_seconds, values, ms > 0 ? (double)ms / 1000.0 : 0.0);
}

static void rt_metrics_gauge(struct dbuf *out, const char *name, const char *help, double v)
{
	metrics_write_family(out, name, help, METRICS_GAUGE);
	metrics_write_sample(out, name, NULL, NULL, 0, v);
}

/* 0 closed, 1 half-open, 2 open. */
static double rt_metrics_breaker_value(const char *state)
{
	if (strcmp(state, "open") == 0)
		return 2;
	return strcmp(state, "half_open") == 0 ? 1 : 0;
}

static void rt_metrics_endpoints(struct dbuf *out, const Beebeebrain__V1__RuntimeStatusResponse *s)
{
	static const char *const labels[] = {"provider", "endpoint"};
	static const char state[] = "beebeebrain_llm_breaker_state";
	static const char opens[] = "beebeebrain_llm_breaker_opens_total";
	static const char in_flight[] = "beebeebrain_llm_endpoint_calls_in_flight";

	metrics_write_family(out, state,
			     "Circuit breaker of each provider endpoint called since the start: 0 closed, 1 half-open "
			     "(a probe is out), 2 open (calls held).",
			     METRICS_GAUGE);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const Beebeebrain__V1__RuntimeEndpoint *e = s->endpoints[i];
		const char *values[] = {e->provider, e->base_url};
		if (e->breaker_state[0] != '\0')
			metrics_write_sample(out, state, labels, values, 2, rt_metrics_breaker_value(e->breaker_state));
	}
	metrics_write_family(out, opens, "Times each endpoint's breaker opened since the server started.",
			     METRICS_COUNTER);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const Beebeebrain__V1__RuntimeEndpoint *e = s->endpoints[i];
		const char *values[] = {e->provider, e->base_url};
		if (e->breaker_state[0] != '\0')
			metrics_write_sample(out, opens, labels, values, 2, e->opens);
	}
	metrics_write_family(out, in_flight, "Provider calls in flight per endpoint.", METRICS_GAUGE);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		const Beebeebrain__V1__RuntimeEndpoint *e = s->endpoints[i];
		const char *values[] = {e->provider, e->base_url[0] != '\0' ? e->base_url : "local"};
		metrics_write_sample(out, in_flight, labels, values, 2, e->in_flight);
	}
}

void runtime_metrics_collect(void *p, struct dbuf *out)
{
	Beebeebrain__V1__RuntimeStatusResponse s = BEEBEEBRAIN__V1__RUNTIME_STATUS_RESPONSE__INIT;
	struct arena a;

	arena_init(&a);
	runtime_status(p, &a, &s);
	rt_metrics_gauge(out, "beebeebrain_runtime_calls_in_flight",
			 "Provider calls in flight, every endpoint (a run in flight has one).", s.in_flight);
	rt_metrics_gauge(out, "beebeebrain_runtime_max_in_flight", "The most calls the runtime makes at once.",
			 s.max_in_flight);
	rt_metrics_gauge(out, "beebeebrain_runtime_runs_held",
			 "Runs the dispatcher holds in memory: calling, ready for their next turn, or parked.",
			 s.runs_held);
	rt_metrics_gauge(out, "beebeebrain_runtime_runs_parked",
			 "Of the runs held, those waiting for their endpoint's breaker.", s.runs_parked);
	rt_metrics_gauge(out, "beebeebrain_runtime_paused",
			 "1 when the runtime starts no runs (BEEBEEBRAIN_RUNTIME=off).", s.paused ? 1 : 0);
	rt_metrics_endpoints(out, &s);
	arena_reset(&a);
}
