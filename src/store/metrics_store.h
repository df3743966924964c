/*
 * Metrics queries (MetricsService): aggregates computed by SQL in the
 * database, never by loading rows into the server.
 */
#ifndef BBB_METRICS_STORE_H
#define BBB_METRICS_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/metrics.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Fills out (allocated by the caller, by_status from the arena) for the runs
 * of project (0 = all) whose start, or creation when not started, lies in
 * [from_ms, to_ms) (to_ms 0 = no bound). Durations are of runs with both a
 * start and an end: average (rounded), nearest-rank p50 and p95, maximum. */
int store_metrics_runs_summary(struct db *db, int64_t project_id, int64_t from_ms, int64_t to_ms, struct arena *a,
			       Beebeebrain__V1__RunsSummaryResponse *out, bbb_status *st);

struct usage_query {
	const char *uq_provider; /* "" = any */
	const char *uq_model; /* "" = any */
	const char *uq_from; /* "YYYY-MM-DD" inclusive, "" = no bound */
	const char *uq_to; /* inclusive */
	int64_t uq_offset; /* rows to skip (paging) */
	int uq_limit;
};

/* Rows of api_usage_daily by date descending, then provider and model. */
int store_metrics_usage_daily(struct db *db, const struct usage_query *q, struct arena *a,
			      Beebeebrain__V1__UsageDay ***out, size_t *n, int *more, bbb_status *st);

#endif
