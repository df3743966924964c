/*
 * Runs (task_runs) and their provider calls (run_attempts). Messages returned
 * are allocated from the given arena. Status changes go through
 * store_run_save, which checks the row's version (optimistic locking).
 */
#ifndef BBB_RUN_STORE_H
#define BBB_RUN_STORE_H

#include <sqlite3.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Inserts r (task, agent, status, attempt, key, prompt, system_prompt,
 * max_turns, timeout_seconds, provider, model); sets id, created_at and
 * version 1. RESOURCE_CONFLICT when the key or (task, attempt) is taken. */
int store_run_insert(sqlite3 *db, Beebeebrain__V1__TaskRun *r, bbb_status *st);
/* TASK_RUN_NOT_FOUND when absent. */
int store_run_get(sqlite3 *db, int64_t id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The run holding an idempotency key; *out NULL when none. */
int store_run_by_key(sqlite3 *db, const char *key, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The task's oldest active run (queued, running, retry_scheduled,
 * interrupted); *out NULL when none. */
int store_run_active(sqlite3 *db, int64_t task_id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The task's newest run; *out NULL when it has none. */
int store_run_latest(sqlite3 *db, int64_t task_id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st);
/* The next attempt ordinal of the task: 1 + the highest so far. */
int store_run_next_attempt(sqlite3 *db, int64_t task_id, int32_t *attempt, bbb_status *st);
/* Up to `limit` runs with id > after_id, ascending; task 0 and status 0 match
 * any. */
int store_run_list(sqlite3 *db, int64_t task_id, int status, int64_t after_id, int limit, struct arena *a,
		   Beebeebrain__V1__TaskRun ***out, size_t *n, int *more, bbb_status *st);
/* Writes r's state (status, started/ended/next_retry times, error, tokens,
 * cost, output) where the row still has version r->version; bumps
 * r->version. TASK_VERSION_CONFLICT when it changed. */
int store_run_save(sqlite3 *db, Beebeebrain__V1__TaskRun *r, bbb_status *st);
/* Every provider call of a run, by n. */
int store_run_attempts(sqlite3 *db, int64_t run_id, struct arena *a, Beebeebrain__V1__RunAttempt ***out, size_t *n,
		       bbb_status *st);
/* The project a run belongs to (through its task); TASK_RUN_NOT_FOUND. */
int store_run_project(sqlite3 *db, int64_t run_id, int64_t *project_id, int64_t *task_id, bbb_status *st);

#endif
