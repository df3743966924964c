/*
 * The runtime: runs tasks with LLM providers (docs/runtime.md).
 *
 * One dispatcher thread owns every run in flight. Each tick (and whenever a
 * commit or an HTTP completion wakes it) it
 *   - applies the completions of provider calls, in one write transaction
 *     per batch: the run_attempts row, usage, the next turn or the run's
 *     outcome (succeeded -> task review + task_completed inbox item, retry
 *     scheduled with full-jitter backoff, failed, interrupted);
 *   - aborts the in-flight calls of tasks that were paused or cancelled;
 *   - starts due runs (queued; retry_scheduled whose time came; interrupted of
 *     a running task) by task priority then age, within the global limit and
 *     each agent's max_concurrency, unless their endpoint's circuit breaker
 *     holds them; after a breaker closes, held runs are released spread out;
 *   - with --autorun, queues runs for ready todo tasks that have an assignee;
 *   - every detector interval, runs the detectors (runtime/detectors.c).
 * Every provider HTTP call goes through one curl multi loop (http_loop.h),
 * so hundreds of calls in flight cost no extra threads. The echo provider
 * answers in-process. The claude_code provider's CLI processes run on one
 * process loop thread (proc_loop.h), which reads their output and reaps them.
 *
 * A run in flight is leased to this server (its id, for RUNTIME_LEASE_MS),
 * the lease taken in the write that starts it, renewed every third of a
 * lease while it runs and let go in the write that ends it. At start, runs
 * left `running` by a server that is gone become `interrupted`
 * (PROCESS_RESTARTED) and are resumed like any interrupted run of a running
 * task: on SQLite every running run (one server per file), on PostgreSQL
 * those whose lease passed; afterwards, every third of a lease, the runs of
 * other servers whose lease passed are recovered the same way. A succeeded
 * run is final and never called again.
 */
#ifndef BBB_RUNTIME_H
#define BBB_RUNTIME_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/breaker.h"
#include "domain/retry_policy.h"
#include "runtime/provider.h"
#include "store/store.h"

/* Defaults of the options left 0 (the server's configuration shows the same
 * numbers: it takes them from here). */
#define RUNTIME_DEFAULT_MAX_IN_FLIGHT 64
#define RUNTIME_DEFAULT_RELEASE_SPREAD_MS 10000
#define RUNTIME_DEFAULT_STORM_THRESHOLD 20
#define RUNTIME_DEFAULT_DETECTOR_INTERVAL_MS 60000
#define RUNTIME_DEFAULT_IDLE_TIMEOUT_MS 600000
/* How long a lease on a run in flight lasts unless renewed: the longest a
 * dead server's runs wait before another server resumes them (about one
 * lease more, the recovery's own period). Renewed every third of it, so two
 * missed renewals in a row still do not lose it. */
#define RUNTIME_LEASE_MS 30000

/* Where and as whom one HTTP provider is called. */
struct runtime_endpoint {
	const char *re_provider; /* "anthropic", "openai" */
	struct provider_endpoint re_ep; /* NULL or "" members: the public endpoint, no key */
};

#define RUNTIME_MAX_ENDPOINTS 4

/* The claude_code provider's CLI (provider_claude.h). */
struct runtime_claude {
	const char *rc_cli; /* a name looked up in rc_search_path, or an absolute path; NULL: "claude" */
	const char *rc_settings; /* an absolute path for --settings; NULL: none */
	const char *const *rc_env; /* the CLI's whole environment, "NAME=value", NULL-ended; NULL: empty */
	const char *rc_search_path; /* the server's PATH, where a bare rc_cli is looked up; NULL: none */
};

/* Everything the runtime is told; it reads no environment. Strings are
 * borrowed and must outlive the runtime. */
struct runtime_options {
	int ro_max_in_flight; /* 0: RUNTIME_DEFAULT_MAX_IN_FLIGHT */
	int ro_autorun; /* --autorun */
	int64_t ro_llm_timeout_ms; /* call timeout of a run that stored none; 0: RUN_DEFAULT_TIMEOUT_S */
	struct retry_policy ro_retry; /* zeroed: RETRY_POLICY_DEFAULT */
	struct breaker_config ro_breaker; /* zeroed: BREAKER_CONFIG_DEFAULT */
	int64_t ro_release_spread_ms; /* 0: RUNTIME_DEFAULT_RELEASE_SPREAD_MS */
	int ro_storm_threshold; /* 0: RUNTIME_DEFAULT_STORM_THRESHOLD runs entering retry_scheduled within 60 s */
	int64_t ro_detector_interval_ms; /* 0: RUNTIME_DEFAULT_DETECTOR_INTERVAL_MS */
	int64_t ro_cost_threshold_micros; /* 0: off */
	int64_t ro_idle_timeout_ms; /* 0: RUNTIME_DEFAULT_IDLE_TIMEOUT_MS */
	const char *ro_pricing_path; /* NULL: the built-in table */
	const char *ro_server_id; /* this server process's id (the owner of its leases) */
	int64_t ro_lease_ms; /* a lease's length; 0: RUNTIME_LEASE_MS */
	int ro_paused; /* 1: start nothing: runs stay queued */
	/* Endpoint settings per provider; a provider not listed gets its public
	 * endpoint and no key. */
	struct runtime_endpoint ro_endpoints[RUNTIME_MAX_ENDPOINTS];
	size_t ro_n_endpoints;
	struct runtime_claude ro_claude;
};

struct runtime;

/* Recovers runs left running, then starts the dispatcher. */
int runtime_start(struct runtime **out, struct store *s, const struct runtime_options *o, bbb_status *st);
/* Commit observer: something changed, look again soon. Any thread. */
void runtime_notify(void *rt, int64_t last_event_id);
/* Fault injection (docs/runtime.md, Incident drills): llm_timeout and llm_transient make the
 * next `count` provider calls time out or answer 503 without calling;
 * file_permission makes the next `count` workspace writes fail with EACCES.
 * Returns -1 with st untouched for other modes. */
int runtime_inject_fault(void *rt, const char *mode, int count, bbb_status *st);
/* Disarms what runtime_inject_fault armed and is not used up yet (each
 * mode counts once); returns how many modes were armed. Any thread. */
int runtime_clear_faults(void *rt);
/* The dispatcher's state as of its last tick (the RuntimeService/Status
 * reply without the database counts), from a: any thread. */
struct arena;
struct Beebeebrain__V1__RuntimeStatusResponse;
void runtime_status(void *rt, struct arena *a, struct Beebeebrain__V1__RuntimeStatusResponse *out);
/* RuntimeService/ResetBreaker: the dispatcher resets the breaker of every
 * endpoint whose provider or base URL is `endpoint` (runtime_internal.h,
 * agent_breaker_reset) and *out gets them as they are after it, from a.
 * NOT_FOUND ENDPOINT_NOT_FOUND when none matched; DEADLINE_EXCEEDED when the
 * dispatcher did not answer before deadline_mono_ms (0: 15 s). Any thread;
 * it waits for the dispatcher. */
struct Beebeebrain__V1__ResetBreakerResponse;
int runtime_reset_breaker(void *rt, const char *endpoint, const char *trace_id, int64_t deadline_mono_ms,
			  struct arena *a, struct Beebeebrain__V1__ResetBreakerResponse *out, bbb_status *st);
/* Interrupts every call in flight (runs become interrupted, SHUTTING_DOWN, and
 * resume at the next start; a CLI process is killed with its process group),
 * stops the thread, the HTTP loop and the process loop. */
void runtime_stop(struct runtime *rt);
/* Appends the runtime's scrape-time metrics (docs/metrics.md) from the
 * dispatcher's snapshot. Any thread. */
struct dbuf;
void runtime_metrics_collect(void *rt, struct dbuf *out);

#endif
