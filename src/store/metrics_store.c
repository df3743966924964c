/* Metrics queries (see metrics_store.h). */
#include "store/metrics_store.h"

#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

/* The runs of the window: ?1 project (0 = all), ?2 from, ?3 to (0 = none). */
#define RUNS_IN_WINDOW                                                                                                 \
	"WITH w AS (SELECT r.run_status AS s, r.retry_count AS retries, r.token_in AS tin, r.token_out AS tout, "      \
	"r.cost_usd_micros AS cost, r.cache_read_tokens AS cread, r.cache_write_tokens AS cwrite, "                    \
	"r.unpriced_calls AS unpriced, CASE WHEN r.started_at IS NOT NULL AND r.ended_at IS NOT NULL "                 \
	"THEN r.ended_at - r.started_at END AS dur FROM task_runs r JOIN tasks t ON t.id = r.task_id "                 \
	"WHERE (?1 = 0 OR t.project_id = ?1) AND coalesce(r.started_at, r.created_at) >= ?2 "                          \
	"AND (?3 = 0 OR coalesce(r.started_at, r.created_at) < ?3)) "

/* Nearest rank of percentile p among n sorted values: ceil(p * n / 100).
 * Tokens and money are summed with sat_sum (store.h): a provider's counts are
 * hostile input, and sum() would fail the whole query on an overflow. */
#define RUNS_TOTALS                                                                                                    \
	RUNS_IN_WINDOW                                                                                                 \
	", d AS (SELECT dur, row_number() OVER (ORDER BY dur) AS rn, count(*) OVER () AS n FROM w "                    \
	"WHERE dur IS NOT NULL) "                                                                                      \
	"SELECT (SELECT count(*) FROM w), (SELECT coalesce(sum(retries), 0) FROM w), "                                 \
	"(SELECT sat_sum(tin) FROM w), (SELECT sat_sum(tout) FROM w), "                                                \
	"(SELECT sat_sum(cost) FROM w), (SELECT count(*) FROM d), "                                                    \
	"(SELECT coalesce(CAST(round(avg(dur)) AS BIGINT), 0) FROM d), "                                               \
	"(SELECT coalesce(max(CASE WHEN rn = (50 * n + 99) / 100 THEN dur END), 0) FROM d), "                          \
	"(SELECT coalesce(max(CASE WHEN rn = (95 * n + 99) / 100 THEN dur END), 0) FROM d), "                          \
	"(SELECT coalesce(max(dur), 0) FROM d), (SELECT sat_sum(cread) FROM w), (SELECT sat_sum(cwrite) FROM w), "     \
	"(SELECT sat_sum(unpriced) FROM w), (SELECT count(*) FROM w WHERE unpriced > 0)"

#define RUNS_BY_STATUS RUNS_IN_WINDOW "SELECT s, count(*) FROM w GROUP BY s"

static void metrics_bind_window(struct db_stmt *stmt, int64_t project_id, int64_t from_ms, int64_t to_ms)
{
	db_bind_i64(stmt, 1, project_id);
	db_bind_i64(stmt, 2, from_ms);
	db_bind_i64(stmt, 3, to_ms);
}

int store_metrics_runs_summary(struct db *db, int64_t project_id, int64_t from_ms, int64_t to_ms, struct arena *a,
			       Beebeebrain__V1__RunsSummaryResponse *out, bbb_status *st)
{
	const size_t n_status = beebeebrain__v1__run_status__descriptor.n_values - 1;
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, RUNS_TOTALS, &stmt, st) != 0)
		return -1;
	metrics_bind_window(stmt, project_id, from_ms, to_ms);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		out->total = db_col_i64(stmt, 0);
		out->retries = db_col_i64(stmt, 1);
		out->token_in = db_col_i64(stmt, 2);
		out->token_out = db_col_i64(stmt, 3);
		out->cost_usd_micros = db_col_i64(stmt, 4);
		out->ended = db_col_i64(stmt, 5);
		out->avg_duration_ms = db_col_i64(stmt, 6);
		out->p50_duration_ms = db_col_i64(stmt, 7);
		out->p95_duration_ms = db_col_i64(stmt, 8);
		out->max_duration_ms = db_col_i64(stmt, 9);
		out->cache_read_tokens = db_col_i64(stmt, 10);
		out->cache_write_tokens = db_col_i64(stmt, 11);
		out->unpriced_calls = db_col_i64(stmt, 12);
		out->cost_unknown_runs = db_col_i64(stmt, 13);
		out->cost_unknown = out->unpriced_calls > 0;
	}
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "runs summary");

	/* Every status, in enum order, zero counts included. */
	out->by_status = arena_alloc(a, sizeof(Beebeebrain__V1__RunStatusCount *) * n_status);
	out->n_by_status = n_status;
	for (size_t i = 0; i < n_status; i++) {
		out->by_status[i] = (void *)arena_message(a, &beebeebrain__v1__run_status_count__descriptor);
		out->by_status[i]->status = (Beebeebrain__V1__RunStatus)(i + 1);
	}
	if (store_prepare(db, RUNS_BY_STATUS, &stmt, st) != 0)
		return -1;
	metrics_bind_window(stmt, project_id, from_ms, to_ms);
	while ((rc = db_step(stmt)) == DB_ROW) {
		int s = 0;
		if (enum_from_text(&beebeebrain__v1__run_status__descriptor, db_col_text(stmt, 0), &s) == 0 && s >= 1 &&
		    (size_t)s <= n_status)
			out->by_status[s - 1]->count = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "runs by status");
	return 0;
}

int store_metrics_usage_daily(struct db *db, const struct usage_query *q, struct arena *a,
			      Beebeebrain__V1__UsageDay ***out, size_t *n, int *more, bbb_status *st)
{
	struct store_page pg = {0};
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "SELECT provider, model_name, date, request_count, token_in, token_out, cost_usd_micros, "
			  "cache_read_tokens, cache_write_tokens, unpriced_calls FROM api_usage_daily WHERE (?1 = '' "
			  "OR provider = ?1) AND (?2 = '' OR model_name = ?2) "
			  "AND (?3 = '' OR date >= ?3) AND (?4 = '' OR date <= ?4) "
			  "ORDER BY date DESC, provider, model_name LIMIT ?5 OFFSET ?6",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, q->uq_provider);
	db_bind_text(stmt, 2, q->uq_model);
	db_bind_text(stmt, 3, q->uq_from);
	db_bind_text(stmt, 4, q->uq_to);
	db_bind_i64(stmt, 5, q->uq_limit + 1);
	db_bind_i64(stmt, 6, q->uq_offset);
	*out = arena_alloc(a, sizeof(Beebeebrain__V1__UsageDay *) * (size_t)(q->uq_limit + 1));
	*n = 0;
	*more = 0;
	while ((rc = db_step(stmt)) == DB_ROW) {
		Beebeebrain__V1__UsageDay *d;
		if ((int)*n == q->uq_limit) {
			*more = 1;
			break;
		}
		d = (void *)arena_message(a, &beebeebrain__v1__usage_day__descriptor);
		d->provider = store_col_text(a, stmt, 0);
		d->model_name = store_col_text(a, stmt, 1);
		d->date = store_col_text(a, stmt, 2);
		d->request_count = db_col_i64(stmt, 3);
		d->token_in = db_col_i64(stmt, 4);
		d->token_out = db_col_i64(stmt, 5);
		d->cost_usd_micros = db_col_i64(stmt, 6);
		d->cache_read_tokens = db_col_i64(stmt, 7);
		d->cache_write_tokens = db_col_i64(stmt, 8);
		d->unpriced_calls = db_col_i64(stmt, 9);
		d->cost_unknown = d->unpriced_calls > 0;
		if (!store_page_add(&pg, &d->base)) {
			*more = 1;
			break;
		}
		(*out)[(*n)++] = d;
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "usage daily");
	return 0;
}
