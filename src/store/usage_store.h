/*
 * Provider calls and what they cost: run_attempts rows (one per HTTP call),
 * the run's token and cost totals, and api_usage_daily (per provider, model
 * and UTC day). All of them run inside the writer's transaction.
 */
#ifndef BBB_USAGE_STORE_H
#define BBB_USAGE_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "beebeebrain/v1/common.pb-c.h"
#include <beebeebrain/status.h>

/* Inserts one run_attempts row (run_id, n, times, status, error, tokens and
 * the price used). */
int store_attempt_insert(sqlite3 *db, const Beebeebrain__V1__RunAttempt *a, bbb_status *st);
/* The highest attempt number of a run (0 when none). */
int store_attempt_last_n(sqlite3 *db, int64_t run_id);
/* Adds tokens and cost to the run's totals (without touching its version:
 * usage is additive and never conflicts). */
int store_run_add_usage(sqlite3 *db, int64_t run_id, int64_t tokens_in, int64_t tokens_out, int64_t cost_micros,
			bbb_status *st);
/* Upserts api_usage_daily for the UTC day of at_ms: request_count + 1 and the
 * tokens and cost added. */
int store_usage_daily_add(sqlite3 *db, const char *provider, const char *model, int64_t at_ms, int64_t tokens_in,
			  int64_t tokens_out, int64_t cost_micros, bbb_status *st);

/* A provider/model whose cost on one day passed a threshold. */
struct store_usage_over {
	const char *uo_provider;
	const char *uo_model;
	int64_t uo_cost_micros;
};
/* api_usage_daily rows of `day` ("YYYY-MM-DD") costing more than
 * threshold_micros; at most `limit`. Strings from the arena. */
struct arena;
int store_usage_daily_over(sqlite3 *db, const char *day, int64_t threshold_micros, int limit, struct arena *a,
			   struct store_usage_over **out, size_t *n, bbb_status *st);

#endif
