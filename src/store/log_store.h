/*
 * Run log lines (run_logs). Queries are served from the table's indexes
 * (run_id, id), (task_id, id) and (project_id, id), chosen by the narrowest
 * filter given and forced with INDEXED BY, so a query never scans the whole
 * table or the events table; the level filter applies to rows read in id
 * order from that index.
 */
#ifndef BBB_LOG_STORE_H
#define BBB_LOG_STORE_H

#include "store/db.h"

#include "beebeebrain/v1/log.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Inserts l (project, task, run, level, source, message, trace_id,
 * event_id); sets id and created_at. */
int store_log_insert(struct db *db, Beebeebrain__V1__LogLine *l, bbb_status *st);

struct log_query {
	int64_t lq_project_id; /* 0 = any */
	int64_t lq_task_id; /* 0 = any */
	int64_t lq_run_id; /* 0 = any */
	int lq_min_level; /* LogLevel; 0 = any */
	int64_t lq_before_id; /* 0 = from the newest */
	int lq_limit;
	int lq_offset; /* rows to skip first */
	int lq_level; /* LogLevel: exactly this one; 0 = any */
};

/* The SQL store_log_query runs for q (for EXPLAIN in tests). */
const char *store_log_query_sql(const struct db *db, const struct log_query *q);
/* Up to lq_limit lines matching q, newest first; *more when more follow. */
int store_log_query(struct db *db, const struct log_query *q, struct arena *a, Beebeebrain__V1__LogLine ***out,
		    size_t *n, int *more, bbb_status *st);

struct store_run_ref;
/* Running runs at least `min_same` of whose last `last` log lines carry the
 * same message (for the detectors); rf_count is the largest number of equal
 * lines. At most `limit`. */
int store_log_repeating_runs(struct db *db, int last, int min_same, int limit, struct arena *a,
			     struct store_run_ref **out, size_t *n, bbb_status *st);

#endif
