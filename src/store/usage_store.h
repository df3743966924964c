/*
 * Provider calls and what they cost: run_attempts rows (one per HTTP call),
 * the run's token and cost totals, and api_usage_daily (per provider, model
 * and UTC day). All of them run inside the writer's transaction.
 */
#ifndef BBB_USAGE_STORE_H
#define BBB_USAGE_STORE_H

#include "store/db.h"
#include <stdint.h>

#include "beebeebrain/v1/common.pb-c.h"
#include <beebeebrain/status.h>

/* A call starts: its row (run_id, n, started_at), open (ended_at NULL) until
 * the call ends, so that a call lost in a crash is still counted. */
int store_attempt_start(struct db *db, int64_t run_id, int n, int64_t started_at_ms, bbb_status *st);
/* A call ended: its row gets the end, status, error, tokens (cache tokens
 * included), the prices used, whether its cost is unknown and the answer's
 * stop reason (inserted whole when its start was not recorded). */
int store_attempt_end(struct db *db, const Beebeebrain__V1__RunAttempt *a, bbb_status *st);
/* Recovery: every row still open is a call that was in flight when the
 * server stopped. Each is counted as a request in api_usage_daily (no tokens:
 * the answer never came) and closed at ended_at_ms with error_code; *n is
 * how many. */
int store_attempts_close_open(struct db *db, int64_t ended_at_ms, const char *error_code, int *n, bbb_status *st);
/* The same for one run's open rows only (a run recovered while other
 * servers' calls are in flight in the same database). */
int store_run_attempts_close_open(struct db *db, int64_t run_id, int64_t ended_at_ms, const char *error_code, int *n,
				  bbb_status *st);
/* What one call adds to its run's totals and to its day. Every sum held at
 * INT64_MAX instead of wrapping (a provider's counts are hostile input). */
struct store_usage {
	int64_t su_tokens_in; /* every input token, cache tokens included */
	int64_t su_tokens_out;
	int64_t su_cache_read; /* of su_tokens_in */
	int64_t su_cache_write; /* of su_tokens_in */
	int64_t su_cost_micros; /* ignored (0 added) when su_unpriced */
	int su_unpriced; /* 1: the model has no price; counted in unpriced_calls */
};

/* Adds a call's usage to the run's totals (without touching its version:
 * usage is additive and never conflicts). */
int store_run_add_usage(struct db *db, int64_t run_id, const struct store_usage *u, bbb_status *st);
/* Upserts api_usage_daily for the UTC day of at_ms: request_count + 1 and the
 * call's usage added (a call that got no answer adds a zeroed usage). */
int store_usage_daily_add(struct db *db, const char *provider, const char *model, int64_t at_ms,
			  const struct store_usage *u, bbb_status *st);

/* A provider/model whose cost on one day passed a threshold. */
struct store_usage_over {
	const char *uo_provider;
	const char *uo_model;
	int64_t uo_cost_micros;
};
/* api_usage_daily rows of `day` ("YYYY-MM-DD") costing more than
 * threshold_micros; at most `limit`. Strings from the arena. */
struct arena;
int store_usage_daily_over(struct db *db, const char *day, int64_t threshold_micros, int limit, struct arena *a,
			   struct store_usage_over **out, size_t *n, bbb_status *st);

#endif
