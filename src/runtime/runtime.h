/*
 * The runtime: runs tasks with LLM providers (SPEC section 6).
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
 * answers in-process.
 *
 * At start, runs left `running` by a crash become `interrupted`
 * (PROCESS_RESTARTED) and are resumed like any interrupted run of a running
 * task; a succeeded run is final and never called again.
 */
#ifndef BBB_RUNTIME_H
#define BBB_RUNTIME_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "domain/breaker.h"
#include "domain/retry_policy.h"
#include "store/store.h"

struct runtime_options {
	int ro_max_in_flight; /* 0: 64 */
	int ro_autorun; /* --autorun */
	int64_t ro_llm_timeout_ms; /* default call timeout; 0: $BEEBEEBRAIN_LLM_TIMEOUT_S or 90 s */
	struct retry_policy ro_retry; /* zeroed: SPEC defaults */
	struct breaker_config ro_breaker; /* zeroed: SPEC defaults */
	int64_t ro_release_spread_ms; /* 0: 10 s */
	int ro_storm_threshold; /* 0: 20 runs entering retry_scheduled within 60 s */
	int64_t ro_detector_interval_ms; /* 0: 60 s */
	int64_t ro_cost_threshold_micros; /* 0: off */
	int64_t ro_idle_timeout_ms; /* 0: 600 s */
	const char *ro_pricing_path; /* NULL: $BEEBEEBRAIN_PRICING, else the built-in table */
	int ro_paused; /* 1: start nothing (BEEBEEBRAIN_RUNTIME=off): runs stay queued */
};

/* Reads the runtime settings from the environment: BEEBEEBRAIN_LLM_TIMEOUT_S,
 * BEEBEEBRAIN_COST_ALERT_THRESHOLD_USD, BEEBEEBRAIN_MAX_IN_FLIGHT,
 * BEEBEEBRAIN_RETRY_BASE_MS, BEEBEEBRAIN_RETRY_MAX_MS,
 * BEEBEEBRAIN_RETRY_MAX_ATTEMPTS, BEEBEEBRAIN_BREAKER_COOLDOWN_MS,
 * BEEBEEBRAIN_RELEASE_SPREAD_MS, BEEBEEBRAIN_DETECTOR_INTERVAL_MS,
 * BEEBEEBRAIN_IDLE_TIMEOUT_S, BEEBEEBRAIN_PRICING, BEEBEEBRAIN_RUNTIME=off
 * (docs/runtime.md). */
void runtime_options_from_env(struct runtime_options *o);

struct runtime;

/* Recovers runs left running, then starts the dispatcher. */
int runtime_start(struct runtime **out, struct store *s, const struct runtime_options *o, bbb_status *st);
/* Commit observer: something changed, look again soon. Any thread. */
void runtime_notify(void *rt, int64_t last_event_id);
/* Fault injection (SPEC section 11): llm_timeout and llm_transient make the
 * next `count` provider calls time out or answer 503 without calling;
 * file_permission makes the next `count` workspace writes fail with EACCES.
 * Returns -1 with st untouched for other modes. */
int runtime_inject_fault(void *rt, const char *mode, int count, bbb_status *st);
/* Interrupts every call in flight (runs become interrupted, SHUTTING_DOWN, and
 * resume at the next start), stops the thread and the HTTP loop. */
void runtime_stop(struct runtime *rt);

#endif
