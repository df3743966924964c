/*
 * The store's metrics (see store_metrics.h). Runs by status count every row
 * of task_runs through the task_runs_status index (a covering index scan, no
 * table read); open alerts by code read only open rows. Every run status
 * gets a sample, 0 included, so a status does not vanish from a graph when
 * its last run moves on.
 */
#include "store/store_metrics.h"

#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"

/* One write and 256 (the writer's most per group), in powers of 2. */
static const double store_per_commit_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
/* From an fsync on a fast disk to a group that waited on the write lock. */
static const double store_commit_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void store_writer_metrics_init(struct store_writer_metrics *m)
{
	const struct metrics_spec per_commit = {
		METRICS_HISTOGRAM,
		"beebeebrain_store_writes_per_commit",
		"Writes (RPC mutations, runtime outcomes, events) run in each transaction the writer committed "
		"(group commit).",
		NULL,
		0,
		store_per_commit_bounds,
		sizeof(store_per_commit_bounds) / sizeof(store_per_commit_bounds[0])};
	const struct metrics_spec seconds = {
		METRICS_HISTOGRAM,
		"beebeebrain_store_commit_duration_seconds",
		"Time of each committed write transaction, from BEGIN IMMEDIATE to the end of COMMIT (the writes "
		"and the sync).",
		NULL,
		0,
		store_commit_bounds,
		sizeof(store_commit_bounds) / sizeof(store_commit_bounds[0])};

	m->wm_writes_per_commit = metrics_family(metrics_default(), &per_commit);
	m->wm_commit_seconds = metrics_family(metrics_default(), &seconds);
}

/* Runs sql (two columns: a text key, a count) and writes one sample per row
 * under `label`, after a sample of 0 for each of `known` the rows do not
 * name. -1 when the query failed (nothing written). */
static int store_metrics_groups(struct db *db, const char *sql, const char *name, const char *label,
				const char *const *known, size_t n_known, struct dbuf *out)
{
	const char *labels[] = {label};
	int64_t counts[16] = {0};
	struct dbuf rows;
	struct db_stmt *stmt;
	bbb_status st;
	int rc;

	status_clear(&st);
	if (store_prepare(db, sql, &stmt, &st) != 0) {
		log_warn("metrics", "%s: %s", name, st.message);
		return -1;
	}
	dbuf_init(&rows, (size_t)1 << 20);
	while ((rc = db_step(stmt)) == DB_ROW) {
		const char *key = db_col_text(stmt, 0);
		int64_t n = db_col_i64(stmt, 1);
		size_t i;

		key = key != NULL ? key : "";
		for (i = 0; i < n_known && strcmp(known[i], key) != 0; i++)
			;
		if (i < n_known)
			counts[i] = n;
		else
			metrics_write_sample(&rows, name, labels, &key, 1, (double)n);
	}
	store_release(stmt);
	if (rc != DB_DONE) {
		log_warn("metrics", "%s: %s", name, db_errmsg(db));
		dbuf_free(&rows);
		return -1;
	}
	for (size_t i = 0; i < n_known; i++)
		metrics_write_sample(out, name, labels, &known[i], 1, (double)counts[i]);
	dbuf_add(out, dbuf_str(&rows), dbuf_len(&rows));
	dbuf_free(&rows);
	return 0;
}

static void store_metrics_writer(struct store *s, struct dbuf *out)
{
	struct store_stats ss;

	store_get_stats(s, &ss);
	metrics_write_family(out, "beebeebrain_store_writer_queue_depth",
			     "Writes waiting for the writer thread right now.", METRICS_GAUGE);
	metrics_write_sample(out, "beebeebrain_store_writer_queue_depth", NULL, NULL, 0, (double)ss.ss_queued);
	metrics_write_family(out, "beebeebrain_store_writes_total", "Writes run in transactions that committed.",
			     METRICS_COUNTER);
	metrics_write_sample(out, "beebeebrain_store_writes_total", NULL, NULL, 0, (double)ss.ss_writes);
	metrics_write_family(out, "beebeebrain_store_commits_total", "Write transactions committed.", METRICS_COUNTER);
	metrics_write_sample(out, "beebeebrain_store_commits_total", NULL, NULL, 0, (double)ss.ss_commits);
	metrics_write_family(out, "beebeebrain_store_lock_failures_total",
			     "Write groups refused because another connection held SQLite's write lock.",
			     METRICS_COUNTER);
	metrics_write_sample(out, "beebeebrain_store_lock_failures_total", NULL, NULL, 0, (double)ss.ss_lock_failures);
}

void store_metrics_collect(struct store *s, struct db *reader, struct dbuf *out)
{
	static const char *const run_statuses[] = {"queued",          "running",     "succeeded", "failed",
						   "retry_scheduled", "interrupted", "cancelled"};
	struct dbuf part;

	store_metrics_writer(s, out);
	/* Each family is written whole or not at all. */
	dbuf_init(&part, (size_t)1 << 20);
	metrics_write_family(&part, "beebeebrain_runs", "Runs in the database by status.", METRICS_GAUGE);
	if (store_metrics_groups(reader, "SELECT run_status, count(*) FROM task_runs GROUP BY run_status",
				 "beebeebrain_runs", "status", run_statuses,
				 sizeof(run_statuses) / sizeof(run_statuses[0]), &part) == 0)
		dbuf_add(out, dbuf_str(&part), dbuf_len(&part));
	dbuf_free(&part);
	dbuf_init(&part, (size_t)1 << 20);
	metrics_write_family(&part, "beebeebrain_alerts_open",
			     "Open alerts (acknowledged ones included) by code; a code without an open alert has "
			     "no sample.",
			     METRICS_GAUGE);
	if (store_metrics_groups(reader, "SELECT code, count(*) FROM alerts WHERE status = 'open' GROUP BY code",
				 "beebeebrain_alerts_open", "code", NULL, 0, &part) == 0)
		dbuf_add(out, dbuf_str(&part), dbuf_len(&part));
	dbuf_free(&part);
}
