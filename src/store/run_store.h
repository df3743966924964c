/*
 * Runs (task_runs) and their provider calls (run_attempts). Messages returned
 * are allocated from the given arena. Status changes go through
 * store_run_save, which checks the row's version (optimistic locking).
 */
#ifndef BBB_RUN_STORE_H
#define BBB_RUN_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Inserts r (task, agent, status, attempt, key, prompt, system_prompt,
 * max_turns, timeout_seconds, provider, model, max_output_tokens); sets id,
 * created_at and version 1. RESOURCE_CONFLICT when the key or (task, attempt) is taken. */
int store_run_insert(struct db *db, Beebeebrain__V1__TaskRun *r, bbb_status *st);
/* TASK_RUN_NOT_FOUND when absent. */
int store_run_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The run holding an idempotency key; *out NULL when none. */
int store_run_by_key(struct db *db, const char *key, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The task's oldest active run (queued, running, retry_scheduled,
 * interrupted); *out NULL when none. */
int store_run_active(struct db *db, int64_t task_id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The task's newest run; *out NULL when it has none. */
int store_run_latest(struct db *db, int64_t task_id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The next attempt ordinal of the task: 1 + the highest so far. */
int store_run_next_attempt(struct db *db, int64_t task_id, int32_t *attempt, bbb_status *st);
/* Up to `limit` runs with id > after_id, ascending; task 0 and status 0 match
 * any. */
int store_run_list(struct db *db, int64_t task_id, int status, int64_t after_id, int limit, struct arena *a,
		   Beebeebrain__V1__TaskRun ***out, size_t *n, int *more, bbb_status *st);
/* Writes r's state (status, started/ended/next_retry times, error, tokens,
 * cost, output, stop reason) where the row still has version r->version; bumps
 * r->version. TASK_VERSION_CONFLICT when it changed. A run that is not
 * running after the write has no lease (lease_owner, lease_until NULL): the
 * write that ends a run in flight also lets go of its lease. */
int store_run_save(struct db *db, Beebeebrain__V1__TaskRun *r, bbb_status *st);
/* Every provider call of a run, by n. */
int store_run_attempts(struct db *db, int64_t run_id, struct arena *a, Beebeebrain__V1__RunAttempt ***out, size_t *n,
		       bbb_status *st);
/* The project a run belongs to (through its task); TASK_RUN_NOT_FOUND. */
int store_run_project(struct db *db, int64_t run_id, int64_t *project_id, int64_t *task_id, bbb_status *st);

/* ---- what the dispatcher reads (on its own connection) */

/* A run the dispatcher may start, with what the scheduler needs to know. */
struct store_due_run {
	int64_t dr_run_id;
	const char *dr_provider; /* "" when the run has none (echo) */
	int64_t dr_agent_id; /* 0: no agent */
	int dr_agent_limit; /* the agent's max_concurrency (4 without an agent) */
};
/* Due runs of running tasks, best first (task priority, task age, run id):
 * queued, interrupted, and retry_scheduled whose next_retry_at <= now_ms;
 * at most `limit`. *out is an arena array. */
int store_run_due_list(struct db *db, int64_t now_ms, int limit, struct arena *a, struct store_due_run **out, size_t *n,
		       bbb_status *st);

/* What a run needs to execute that its own row does not carry. */
struct store_run_exec {
	const char *re_root; /* the project's root_path */
	const char *re_persona; /* the agent's persona prompt, "" when none */
	const char *re_tools; /* the agent's enabled_tools, comma separated, "" when none (all) */
	int re_last_attempt; /* the run's highest run_attempts.n, 0 when none */
	int re_protocol_errors; /* its attempts that ended LLM_PROTOCOL_ERROR */
	const char *re_token_param; /* the agent's token_limit_param, "" when none (chosen by model) */
};
/* TASK_RUN_NOT_FOUND when the run is gone. Strings from the arena. */
int store_run_exec_settings(struct db *db, int64_t run_id, struct arena *a, struct store_run_exec *out, bbb_status *st);

/* ---- leases: which server executes a run in flight (docs/runtime.md, Leases) */

/* The run, running at version `version`, is leased to `owner` until
 * until_ms (wall). Called in the transaction that starts it, after the
 * write that made it running; TASK_VERSION_CONFLICT when the row is not
 * that run any more. */
int store_run_lease_take(struct db *db, int64_t run_id, int64_t version, const char *owner, int64_t until_ms,
			 bbb_status *st);
/* Every running run leased to `owner` is leased until until_ms; *n is how
 * many. */
int store_run_lease_renew(struct db *db, const char *owner, int64_t until_ms, int *n, bbb_status *st);
/* Running runs whose lease passed (lease_until < now_ms) or that have none,
 * except those leased to `not_owner` (NULL: no exception), oldest lease
 * first; at most `limit` ids in *out (an arena array). Inside a write
 * transaction: on PostgreSQL the rows are locked, and rows another
 * transaction holds are skipped (another server recovers them). */
int store_run_lease_expired(struct db *db, int64_t now_ms, const char *not_owner, int limit, struct arena *a,
			    int64_t **out, size_t *n, bbb_status *st);

/* How many runs of `provider` an open breaker held: queued and interrupted
 * ones of running tasks, and retry_scheduled ones due by due_by_ms. */
int store_run_held_count(struct db *db, const char *provider, int64_t due_by_ms, int64_t *n, bbb_status *st);

/* Runs waiting in the database: queued, and retry_scheduled (RuntimeService/Status). */
int store_run_waiting_counts(struct db *db, int64_t *queued, int64_t *retry_scheduled, bbb_status *st);

/* A running run (for the detectors). */
struct store_run_ref {
	int64_t rf_run_id, rf_task_id, rf_project_id;
	int64_t rf_count; /* what the query counted, see each function */
};
/* Running runs whose last log line (or start, without one) is older than
 * before_ms; rf_count unused. At most `limit`. */
int store_run_idle_list(struct db *db, int64_t before_ms, int limit, struct arena *a, struct store_run_ref **out,
			size_t *n, bbb_status *st);
/* A task whose recent runs mostly failed (for the detectors). */
struct store_failing_task {
	int64_t ft_task_id, ft_project_id;
	int ft_failed; /* of its last ft_runs ended runs */
	int ft_runs;
};
/* Tasks at least pct percent of whose last ended runs (at least min_runs of
 * them, the last max_runs looked at) failed. At most `limit`. */
int store_run_failing_tasks(struct db *db, int min_runs, int max_runs, int pct, int limit, struct arena *a,
			    struct store_failing_task **out, size_t *n, bbb_status *st);

#endif
