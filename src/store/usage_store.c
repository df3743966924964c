/* run_attempts, run usage totals and api_usage_daily (see usage_store.h). */
#include "store/usage_store.h"

#include <assert.h>
#include <time.h>

#include "common/arena.h"
#include "store/store.h"

int store_attempt_start(struct db *db, int64_t run_id, int n, int64_t started_at_ms, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "INSERT INTO run_attempts (run_id, n, started_at) VALUES (?, ?, ?)", &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	db_bind_i64(stmt, 2, n);
	db_bind_i64(stmt, 3, started_at_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert run attempt");
	return 0;
}

int store_attempt_end(struct db *db, const Beebeebrain__V1__RunAttempt *a, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO run_attempts (run_id, n, started_at, ended_at, http_status, error_code, "
			  "retry_after_ms, token_in, token_out, price_in_usd_micros_per_mtok, "
			  "price_out_usd_micros_per_mtok, cache_read_tokens, cache_write_tokens, "
			  "price_cache_read_usd_micros_per_mtok, price_cache_write_usd_micros_per_mtok, cost_unknown, "
			  "stop_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
			  "ON CONFLICT (run_id, n) DO UPDATE SET ended_at = excluded.ended_at, "
			  "http_status = excluded.http_status, error_code = excluded.error_code, "
			  "retry_after_ms = excluded.retry_after_ms, token_in = excluded.token_in, "
			  "token_out = excluded.token_out, "
			  "price_in_usd_micros_per_mtok = excluded.price_in_usd_micros_per_mtok, "
			  "price_out_usd_micros_per_mtok = excluded.price_out_usd_micros_per_mtok, "
			  "cache_read_tokens = excluded.cache_read_tokens, "
			  "cache_write_tokens = excluded.cache_write_tokens, "
			  "price_cache_read_usd_micros_per_mtok = excluded.price_cache_read_usd_micros_per_mtok, "
			  "price_cache_write_usd_micros_per_mtok = excluded.price_cache_write_usd_micros_per_mtok, "
			  "cost_unknown = excluded.cost_unknown, "
			  "stop_reason = excluded.stop_reason",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, a->run_id);
	db_bind_i64(stmt, 2, a->n);
	db_bind_i64(stmt, 3, a->started_at_ms);
	db_bind_i64(stmt, 4, a->ended_at_ms);
	db_bind_i64(stmt, 5, a->http_status);
	db_bind_text(stmt, 6, a->error_code);
	db_bind_i64(stmt, 7, a->retry_after_ms);
	db_bind_i64(stmt, 8, a->token_in);
	db_bind_i64(stmt, 9, a->token_out);
	db_bind_i64(stmt, 10, a->price_in_usd_micros_per_mtok);
	db_bind_i64(stmt, 11, a->price_out_usd_micros_per_mtok);
	db_bind_i64(stmt, 12, a->cache_read_tokens);
	db_bind_i64(stmt, 13, a->cache_write_tokens);
	db_bind_i64(stmt, 14, a->price_cache_read_usd_micros_per_mtok);
	db_bind_i64(stmt, 15, a->price_cache_write_usd_micros_per_mtok);
	db_bind_i64(stmt, 16, a->cost_unknown ? 1 : 0);
	db_bind_text(stmt, 17, a->stop_reason);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "close run attempt");
	return 0;
}

/* The open rows counted and closed: every one (run 0), or one run's (?1). */
#define ATTEMPTS_OPEN_WHERE "WHERE a.ended_at IS NULL AND (a.run_id = ?1 OR ?1 = 0) "

/* Closes the open rows of run_id (0: of every run), each counted first. */
static int attempts_close_open(struct db *db, int64_t run_id, int64_t ended_at_ms, const char *error_code, int *n,
			       bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	/* Counted first, while the rows are still open: one request each, on the
	 * day it was sent, for the provider and model of its run. */
	/* The UTC day of a wall ms, YYYY-MM-DD, in each dialect. */
#define USAGE_LOST(day)                                                                                                \
	"INSERT INTO api_usage_daily (provider, model_name, date, request_count) SELECT r.provider, r.model, " day     \
	", count(*) FROM run_attempts a JOIN task_runs r ON r.id = a.run_id " ATTEMPTS_OPEN_WHERE                      \
	"GROUP BY 1, 2, 3 ON CONFLICT (provider, model_name, date) "                                                   \
	"DO UPDATE SET request_count = api_usage_daily.request_count + excluded.request_count"
	if (store_prepare(db,
			  DB_SQL(db, USAGE_LOST("strftime('%Y-%m-%d', a.started_at / 1000, 'unixepoch')"),
				 USAGE_LOST("to_char(to_timestamp(a.started_at / 1000) AT TIME ZONE 'UTC', "
					    "'YYYY-MM-DD')")),
			  &stmt, st) != 0)
		return -1;
#undef USAGE_LOST
	db_bind_i64(stmt, 1, run_id);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "count the calls lost in a restart");
	if (store_prepare(db, "UPDATE run_attempts AS a SET ended_at = ?2, error_code = ?3 " ATTEMPTS_OPEN_WHERE, &stmt,
			  st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	db_bind_i64(stmt, 2, ended_at_ms);
	db_bind_text(stmt, 3, error_code);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "close the calls lost in a restart");
	*n = (int)db_changes(db);
	return 0;
}

int store_attempts_close_open(struct db *db, int64_t ended_at_ms, const char *error_code, int *n, bbb_status *st)
{
	return attempts_close_open(db, 0, ended_at_ms, error_code, n, st);
}

int store_run_attempts_close_open(struct db *db, int64_t run_id, int64_t ended_at_ms, const char *error_code, int *n,
				  bbb_status *st)
{
	assert(run_id > 0);
	return attempts_close_open(db, run_id, ended_at_ms, error_code, n, st);
}

/* Binds what a call adds (struct store_usage) to ?11..?16. */
static void store_bind_usage(struct db_stmt *stmt, const struct store_usage *u)
{
	db_bind_i64(stmt, 11, u->su_tokens_in);
	db_bind_i64(stmt, 12, u->su_tokens_out);
	db_bind_i64(stmt, 13, u->su_cache_read);
	db_bind_i64(stmt, 14, u->su_cache_write);
	db_bind_i64(stmt, 15, u->su_unpriced ? 0 : u->su_cost_micros);
	db_bind_i64(stmt, 16, u->su_unpriced ? 1 : 0);
}

int store_run_add_usage(struct db *db, int64_t run_id, const struct store_usage *u, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(
		    db,
		    "UPDATE task_runs SET token_in = sat_add(token_in, ?11), token_out = sat_add(token_out, ?12), "
		    "cache_read_tokens = sat_add(cache_read_tokens, ?13), "
		    "cache_write_tokens = sat_add(cache_write_tokens, ?14), "
		    "cost_usd_micros = sat_add(cost_usd_micros, ?15), "
		    "unpriced_calls = sat_add(unpriced_calls, ?16) WHERE id = ?1",
		    &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	store_bind_usage(stmt, u);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "add run usage");
	return 0;
}

int store_usage_daily_add(struct db *db, const char *provider, const char *model, int64_t at_ms,
			  const struct store_usage *u, bbb_status *st)
{
	time_t secs = (time_t)(at_ms / 1000);
	struct tm tm;
	char day[16];
	struct db_stmt *stmt;
	int rc;

	gmtime_r(&secs, &tm);
	strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	if (store_prepare(
		    db,
		    "INSERT INTO api_usage_daily (provider, model_name, date, request_count, token_in, token_out, "
		    "cache_read_tokens, cache_write_tokens, cost_usd_micros, unpriced_calls) "
		    "VALUES (?1, ?2, ?3, 1, ?11, ?12, ?13, ?14, ?15, ?16) "
		    "ON CONFLICT (provider, model_name, date) DO UPDATE SET "
		    "request_count = sat_add(api_usage_daily.request_count, 1), "
		    "token_in = sat_add(api_usage_daily.token_in, ?11), "
		    "token_out = sat_add(api_usage_daily.token_out, ?12), "
		    "cache_read_tokens = sat_add(api_usage_daily.cache_read_tokens, ?13), "
		    "cache_write_tokens = sat_add(api_usage_daily.cache_write_tokens, ?14), "
		    "cost_usd_micros = sat_add(api_usage_daily.cost_usd_micros, ?15), "
		    "unpriced_calls = sat_add(api_usage_daily.unpriced_calls, ?16)",
		    &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, provider);
	db_bind_text(stmt, 2, model);
	db_bind_text(stmt, 3, day);
	store_bind_usage(stmt, u);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "add daily usage");
	return 0;
}

int store_usage_daily_over(struct db *db, const char *day, int64_t threshold_micros, int limit, struct arena *a,
			   struct store_usage_over **out, size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	if (store_prepare(db,
			  "SELECT provider, model_name, cost_usd_micros FROM api_usage_daily WHERE date = ?1 AND "
			  "cost_usd_micros > ?2 ORDER BY provider, model_name LIMIT ?3",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, day);
	db_bind_i64(stmt, 2, threshold_micros);
	db_bind_i64(stmt, 3, limit);
	while ((rc = db_step(stmt)) == DB_ROW && (int)*n < limit) {
		struct store_usage_over *u = &(*out)[(*n)++];

		u->uo_provider = store_col_text(a, stmt, 0);
		u->uo_model = store_col_text(a, stmt, 1);
		u->uo_cost_micros = db_col_i64(stmt, 2);
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "list daily usage over the threshold");
	return 0;
}
