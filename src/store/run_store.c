/*
 * Runs: rows <-> Beebeebrain__V1__TaskRun. Status is stored as its short
 * text; absent times (started, ended, next retry) are NULL in the row and 0
 * in the message.
 */
#include "store/run_store.h"

#include <string.h>

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define RUN_COLS                                                                                                       \
	"id, task_id, coalesce(agent_id, 0), run_status, attempt, retry_count, idempotency_key, prompt, "              \
	"system_prompt, max_turns, timeout_seconds, provider, model, created_at, coalesce(started_at, 0), "            \
	"coalesce(ended_at, 0), coalesce(next_retry_at, 0), error_code, error_message, token_in, token_out, "          \
	"cost_usd_micros, output_text, version, cache_read_tokens, cache_write_tokens, unpriced_calls, "               \
	"max_output_tokens, stop_reason"

static void *run_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__TaskRun *r =
		(Beebeebrain__V1__TaskRun *)arena_message(a, &beebeebrain__v1__task_run__descriptor);
	int status = 0;

	r->id = db_col_i64(stmt, 0);
	r->task_id = db_col_i64(stmt, 1);
	r->agent_id = db_col_i64(stmt, 2);
	enum_from_text(&beebeebrain__v1__run_status__descriptor, db_col_text(stmt, 3), &status);
	r->run_status = (Beebeebrain__V1__RunStatus)status;
	r->attempt = db_col_int(stmt, 4);
	r->retry_count = db_col_int(stmt, 5);
	r->idempotency_key = store_col_text(a, stmt, 6);
	r->prompt = store_col_text(a, stmt, 7);
	r->system_prompt = store_col_text(a, stmt, 8);
	r->max_turns = db_col_int(stmt, 9);
	r->timeout_seconds = db_col_int(stmt, 10);
	r->provider = store_col_text(a, stmt, 11);
	r->model = store_col_text(a, stmt, 12);
	r->created_at_ms = db_col_i64(stmt, 13);
	r->started_at_ms = db_col_i64(stmt, 14);
	r->ended_at_ms = db_col_i64(stmt, 15);
	r->next_retry_at_ms = db_col_i64(stmt, 16);
	r->error_code = store_col_text(a, stmt, 17);
	r->error_message = store_col_text(a, stmt, 18);
	r->token_in = db_col_i64(stmt, 19);
	r->token_out = db_col_i64(stmt, 20);
	r->cost_usd_micros = db_col_i64(stmt, 21);
	r->output_text = store_col_text(a, stmt, 22);
	r->version = db_col_i64(stmt, 23);
	r->cache_read_tokens = db_col_i64(stmt, 24);
	r->cache_write_tokens = db_col_i64(stmt, 25);
	r->unpriced_calls = db_col_i64(stmt, 26);
	r->cost_unknown = r->unpriced_calls > 0;
	r->max_output_tokens = db_col_int(stmt, 27);
	r->stop_reason = store_col_text(a, stmt, 28);
	return r;
}

int store_run_insert(struct db *db, Beebeebrain__V1__TaskRun *r, bbb_status *st)
{
	struct db_stmt *stmt;
	char status[32];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO task_runs (task_id, agent_id, run_status, attempt, idempotency_key, prompt, "
			  "system_prompt, max_turns, timeout_seconds, provider, model, created_at, version, "
			  "max_output_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) RETURNING id",
			  &stmt, st) != 0)
		return -1;
	r->created_at_ms = clock_now_ms();
	r->version = 1;
	enum_text(&beebeebrain__v1__run_status__descriptor, r->run_status, status, sizeof(status));
	db_bind_i64(stmt, 1, r->task_id);
	store_bind_id_or_null(stmt, 2, r->agent_id);
	db_bind_text(stmt, 3, status);
	db_bind_i64(stmt, 4, r->attempt);
	db_bind_text(stmt, 5, r->idempotency_key);
	store_bind_free_text(stmt, 6, r->prompt);
	store_bind_free_text(stmt, 7, r->system_prompt);
	db_bind_i64(stmt, 8, r->max_turns);
	db_bind_i64(stmt, 9, r->timeout_seconds);
	db_bind_text(stmt, 10, r->provider);
	db_bind_text(stmt, 11, r->model);
	db_bind_i64(stmt, 12, r->created_at_ms);
	db_bind_i64(stmt, 13, r->max_output_tokens);
	rc = store_step_insert(stmt, &r->id);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert run");
	return 0;
}

/* Runs `sql` (one int64 or text parameter) and returns its first row in *out,
 * NULL when there is none. */
static int run_one(struct db *db, const char *sql, int64_t id, const char *text, struct arena *a,
		   Beebeebrain__V1__TaskRun **out, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*out = NULL;
	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	if (text != NULL)
		db_bind_text(stmt, 1, text);
	else
		db_bind_i64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = run_row(stmt, a);
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "get run");
	return 0;
}

int store_run_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st)
{
	if (run_one(db, "SELECT " RUN_COLS " FROM task_runs WHERE id = ?", id, NULL, a, out, st) != 0)
		return -1;
	if (*out == NULL)
		return status_fail(st, "TASK_RUN_NOT_FOUND", "run %lld does not exist", (long long)id);
	return 0;
}

int store_run_by_key(struct db *db, const char *key, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st)
{
	return run_one(db, "SELECT " RUN_COLS " FROM task_runs WHERE idempotency_key = ?", 0, key, a, out, st);
}

int store_run_active(struct db *db, int64_t task_id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st)
{
	return run_one(db,
		       "SELECT " RUN_COLS " FROM task_runs WHERE task_id = ? AND run_status IN "
		       "('queued', 'running', 'retry_scheduled', 'interrupted') ORDER BY id LIMIT 1",
		       task_id, NULL, a, out, st);
}

int store_run_latest(struct db *db, int64_t task_id, struct arena *a, Beebeebrain__V1__TaskRun **out, bbb_status *st)
{
	return run_one(db, "SELECT " RUN_COLS " FROM task_runs WHERE task_id = ? ORDER BY id DESC LIMIT 1", task_id,
		       NULL, a, out, st);
}

int store_run_next_attempt(struct db *db, int64_t task_id, int32_t *attempt, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT coalesce(max(attempt), 0) + 1 FROM task_runs WHERE task_id = ?", &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, task_id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*attempt = db_col_int(stmt, 0);
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "next attempt");
	return 0;
}

int store_run_list(struct db *db, int64_t task_id, int status, int64_t after_id, int limit, struct arena *a,
		   Beebeebrain__V1__TaskRun ***out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;
	char status_text[32] = "";

	if (store_prepare(db,
			  "SELECT " RUN_COLS " FROM task_runs WHERE id > ?1 AND (?2 = 0 OR task_id = ?2) "
			  "AND (?3 = '' OR run_status = ?3) ORDER BY id LIMIT ?4",
			  &stmt, st) != 0)
		return -1;
	if (status != 0)
		enum_text(&beebeebrain__v1__run_status__descriptor, status, status_text, sizeof(status_text));
	db_bind_i64(stmt, 1, after_id);
	db_bind_i64(stmt, 2, task_id);
	db_bind_text(stmt, 3, status_text);
	db_bind_i64(stmt, 4, limit + 1);
	return store_collect(db, stmt, limit, run_row, a, (void ***)out, n, more, "list runs", st);
}

int store_run_save(struct db *db, Beebeebrain__V1__TaskRun *r, bbb_status *st)
{
	struct db_stmt *stmt;
	char status[32];
	int rc;

	if (store_prepare(db,
			  "UPDATE task_runs SET run_status = ?1, retry_count = ?2, started_at = ?3, ended_at = ?4, "
			  "next_retry_at = ?5, error_code = ?6, error_message = ?7, token_in = ?8, token_out = ?9, "
			  "cost_usd_micros = ?10, output_text = ?11, agent_id = ?12, version = version + 1, "
			  "stop_reason = ?15, lease_owner = CASE WHEN ?1 = 'running' THEN lease_owner END, "
			  "lease_until = CASE WHEN ?1 = 'running' THEN lease_until END "
			  "WHERE id = ?13 AND version = ?14",
			  &stmt, st) != 0)
		return -1;
	enum_text(&beebeebrain__v1__run_status__descriptor, r->run_status, status, sizeof(status));
	db_bind_text(stmt, 1, status);
	db_bind_i64(stmt, 2, r->retry_count);
	store_bind_id_or_null(stmt, 3, r->started_at_ms);
	store_bind_id_or_null(stmt, 4, r->ended_at_ms);
	store_bind_id_or_null(stmt, 5, r->next_retry_at_ms);
	db_bind_text(stmt, 6, r->error_code);
	store_bind_free_text(stmt, 7, r->error_message);
	db_bind_i64(stmt, 8, r->token_in);
	db_bind_i64(stmt, 9, r->token_out);
	db_bind_i64(stmt, 10, r->cost_usd_micros);
	store_bind_free_text(stmt, 11, r->output_text);
	store_bind_id_or_null(stmt, 12, r->agent_id);
	db_bind_i64(stmt, 13, r->id);
	db_bind_i64(stmt, 14, r->version);
	db_bind_text(stmt, 15, r->stop_reason);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "update run");
	if (db_changes(db) == 0)
		return status_fail(st, "TASK_VERSION_CONFLICT", "run %lld changed since version %lld was read",
				   (long long)r->id, (long long)r->version);
	r->version++;
	return 0;
}

int store_run_attempts(struct db *db, int64_t run_id, struct arena *a, Beebeebrain__V1__RunAttempt ***out, size_t *n,
		       bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = 8;
	int rc;

	if (store_prepare(
		    db,
		    "SELECT run_id, n, started_at, coalesce(ended_at, 0), http_status, error_code, retry_after_ms, "
		    "token_in, token_out, price_in_usd_micros_per_mtok, price_out_usd_micros_per_mtok, "
		    "cache_read_tokens, cache_write_tokens, price_cache_read_usd_micros_per_mtok, "
		    "price_cache_write_usd_micros_per_mtok, cost_unknown, stop_reason "
		    "FROM run_attempts WHERE run_id = ? ORDER BY n",
		    &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	*out = arena_alloc(a, sizeof(Beebeebrain__V1__RunAttempt *) * cap);
	*n = 0;
	while ((rc = db_step(stmt)) == DB_ROW) {
		Beebeebrain__V1__RunAttempt *at = (void *)arena_message(a, &beebeebrain__v1__run_attempt__descriptor);
		if (*n == cap) {
			Beebeebrain__V1__RunAttempt **bigger =
				arena_alloc(a, sizeof(Beebeebrain__V1__RunAttempt *) * cap * 2);
			for (size_t i = 0; i < *n; i++)
				bigger[i] = (*out)[i];
			*out = bigger;
			cap *= 2;
		}
		at->run_id = db_col_i64(stmt, 0);
		at->n = db_col_int(stmt, 1);
		at->started_at_ms = db_col_i64(stmt, 2);
		at->ended_at_ms = db_col_i64(stmt, 3);
		at->http_status = db_col_int(stmt, 4);
		at->error_code = store_col_text(a, stmt, 5);
		at->retry_after_ms = db_col_i64(stmt, 6);
		at->token_in = db_col_i64(stmt, 7);
		at->token_out = db_col_i64(stmt, 8);
		at->price_in_usd_micros_per_mtok = db_col_i64(stmt, 9);
		at->price_out_usd_micros_per_mtok = db_col_i64(stmt, 10);
		at->cache_read_tokens = db_col_i64(stmt, 11);
		at->cache_write_tokens = db_col_i64(stmt, 12);
		at->price_cache_read_usd_micros_per_mtok = db_col_i64(stmt, 13);
		at->price_cache_write_usd_micros_per_mtok = db_col_i64(stmt, 14);
		at->cost_unknown = db_col_int(stmt, 15) != 0;
		at->stop_reason = store_col_text(a, stmt, 16);
		(*out)[(*n)++] = at;
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list run attempts");
	return 0;
}

int store_run_project(struct db *db, int64_t run_id, int64_t *project_id, int64_t *task_id, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "SELECT t.project_id, t.id FROM task_runs r JOIN tasks t ON t.id = r.task_id WHERE r.id = ?",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*project_id = db_col_i64(stmt, 0);
		*task_id = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc == DB_ROW)
		return 0;
	if (rc == DB_DONE)
		return status_fail(st, "TASK_RUN_NOT_FOUND", "run %lld does not exist", (long long)run_id);
	return store_fail(st, db, rc, "get run");
}

/* ---- what the dispatcher reads */

/* Grows an arena array of `size`-byte elements to hold n + 1. */
static void *run_grow(struct arena *a, void *v, size_t n, size_t *cap, size_t size)
{
	void *bigger;

	if (n < *cap)
		return v;
	*cap = *cap > 0 ? *cap * 2 : 16;
	bigger = arena_alloc(a, *cap * size);
	if (n > 0)
		memcpy(bigger, v, n * size);
	return bigger;
}

int store_run_due_list(struct db *db, int64_t now_ms, int limit, struct arena *a, struct store_due_run **out, size_t *n,
		       bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(db,
			  "SELECT r.id, r.provider, coalesce(r.agent_id, 0), coalesce(a.max_concurrency, 4) "
			  "FROM task_runs r JOIN tasks t ON t.id = r.task_id LEFT JOIN agents a ON a.id = r.agent_id "
			  "WHERE (r.run_status = 'queued' OR r.run_status = 'interrupted' OR "
			  "(r.run_status = 'retry_scheduled' AND r.next_retry_at <= ?1)) AND t.status = 'running' "
			  "ORDER BY t.priority, t.created_at, r.id LIMIT ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, now_ms);
	db_bind_i64(stmt, 2, limit);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_due_run *d;

		*out = run_grow(a, *out, *n, &cap, sizeof(**out));
		d = &(*out)[(*n)++];
		d->dr_run_id = db_col_i64(stmt, 0);
		d->dr_provider = store_col_text(a, stmt, 1);
		d->dr_agent_id = db_col_i64(stmt, 2);
		d->dr_agent_limit = db_col_int(stmt, 3);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list due runs");
	return 0;
}

int store_run_lease_take(struct db *db, int64_t run_id, int64_t version, const char *owner, int64_t until_ms,
			 bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "UPDATE task_runs SET lease_owner = ?3, lease_until = ?4 "
			  "WHERE id = ?1 AND version = ?2 AND run_status = 'running'",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	db_bind_i64(stmt, 2, version);
	db_bind_text(stmt, 3, owner);
	db_bind_i64(stmt, 4, until_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "lease a run");
	if (db_changes(db) == 0)
		return status_fail(st, "TASK_VERSION_CONFLICT", "run %lld is not running at version %lld",
				   (long long)run_id, (long long)version);
	return 0;
}

int store_run_lease_renew(struct db *db, const char *owner, int64_t until_ms, int *n, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	if (store_prepare(db, "UPDATE task_runs SET lease_until = ?2 WHERE lease_owner = ?1 AND run_status = 'running'",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, owner);
	db_bind_i64(stmt, 2, until_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "renew the leases");
	*n = (int)db_changes(db);
	return 0;
}

int store_run_lease_expired(struct db *db, int64_t now_ms, const char *not_owner, int limit, struct arena *a,
			    int64_t **out, size_t *n, bbb_status *st)
{
	/* Same text on both engines but the lock: SQLite's write transaction
	 * holds the whole file already. */
#define LEASE_EXPIRED_SQL                                                                                              \
	"SELECT id FROM task_runs WHERE run_status = 'running' AND (lease_until IS NULL OR lease_until < ?1) "         \
	"AND (lease_owner IS NULL OR lease_owner <> ?2) ORDER BY coalesce(lease_until, 0), id LIMIT ?3"
	struct db_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(db, DB_SQL(db, LEASE_EXPIRED_SQL, LEASE_EXPIRED_SQL " FOR UPDATE SKIP LOCKED"), &stmt, st) !=
	    0)
		return -1;
#undef LEASE_EXPIRED_SQL
	db_bind_i64(stmt, 1, now_ms);
	db_bind_text(stmt, 2, not_owner != NULL ? not_owner : "");
	db_bind_i64(stmt, 3, limit);
	while ((rc = db_step(stmt)) == DB_ROW) {
		*out = run_grow(a, *out, *n, &cap, sizeof(**out));
		(*out)[(*n)++] = db_col_i64(stmt, 0);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list the runs whose lease passed");
	return 0;
}

int store_run_exec_settings(struct db *db, int64_t run_id, struct arena *a, struct store_run_exec *out, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(
		    db,
		    "SELECT p.root_path, coalesce(a.persona_prompt, ''), coalesce(a.enabled_tools, ''), "
		    "(SELECT coalesce(max(n), 0) FROM run_attempts WHERE run_id = r.id), "
		    "(SELECT count(*) FROM run_attempts WHERE run_id = r.id AND error_code = 'LLM_PROTOCOL_ERROR'), "
		    "coalesce(a.token_limit_param, '') "
		    "FROM task_runs r JOIN tasks t ON t.id = r.task_id JOIN projects p ON p.id = t.project_id "
		    "LEFT JOIN agents a ON a.id = r.agent_id WHERE r.id = ?",
		    &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, run_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		out->re_root = store_col_text(a, stmt, 0);
		out->re_persona = store_col_text(a, stmt, 1);
		out->re_tools = store_col_text(a, stmt, 2);
		out->re_last_attempt = db_col_int(stmt, 3);
		out->re_protocol_errors = db_col_int(stmt, 4);
		out->re_token_param = store_col_text(a, stmt, 5);
	}
	store_release(stmt);
	if (rc == DB_ROW)
		return 0;
	if (rc == DB_DONE)
		return status_fail(st, "TASK_RUN_NOT_FOUND", "run %lld does not exist", (long long)run_id);
	return store_fail(st, db, rc, "read run settings");
}

int store_run_held_count(struct db *db, const char *provider, int64_t due_by_ms, int64_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = 0;
	if (store_prepare(db,
			  "SELECT count(*) FROM task_runs r JOIN tasks t ON t.id = r.task_id WHERE r.provider = ?1 "
			  "AND t.status = 'running' AND (r.run_status IN ('queued', 'interrupted') OR "
			  "(r.run_status = 'retry_scheduled' AND r.next_retry_at <= ?2))",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, provider);
	db_bind_i64(stmt, 2, due_by_ms);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*n = db_col_i64(stmt, 0);
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "count held runs");
	return 0;
}

/* Steps stmt into store_run_ref rows: columns run, task, project, count. */
static int run_refs(struct db *db, struct db_stmt *stmt, struct arena *a, struct store_run_ref **out, size_t *n,
		    const char *what, bbb_status *st)
{
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_run_ref *r;

		*out = run_grow(a, *out, *n, &cap, sizeof(**out));
		r = &(*out)[(*n)++];
		r->rf_run_id = db_col_i64(stmt, 0);
		r->rf_task_id = db_col_i64(stmt, 1);
		r->rf_project_id = db_col_i64(stmt, 2);
		r->rf_count = db_col_i64(stmt, 3);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, what);
	return 0;
}

int store_run_idle_list(struct db *db, int64_t before_ms, int limit, struct arena *a, struct store_run_ref **out,
			size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;

	/* A run's last sign of life: its start or its newest log line, the
	 * larger of the two (SQLite's max(a, b), PostgreSQL's greatest). */
#define RUN_IDLE(max2)                                                                                                 \
	"SELECT id, task_id, project_id, 0 FROM (SELECT r.id, r.task_id, t.project_id, " max2                          \
	"(coalesce(r.started_at, "                                                                                     \
	"0), coalesce((SELECT max(created_at) FROM run_logs l WHERE l.run_id = r.id), 0)) AS last FROM task_runs r "   \
	"JOIN tasks t ON t.id = r.task_id WHERE r.run_status = 'running') AS x WHERE last < ?1 ORDER BY id LIMIT ?2"
	if (store_prepare(db, DB_SQL(db, RUN_IDLE("max"), RUN_IDLE("greatest")), &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, before_ms);
	db_bind_i64(stmt, 2, limit);
	return run_refs(db, stmt, a, out, n, "list idle runs", st);
}

int store_run_failing_tasks(struct db *db, int min_runs, int max_runs, int pct, int limit, struct arena *a,
			    struct store_failing_task **out, size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(db,
			  "SELECT e.task_id, t.project_id, count(*) FILTER (WHERE e.run_status = 'failed') AS f, "
			  "count(*) AS n FROM (SELECT task_id, run_status, row_number() OVER (PARTITION BY task_id "
			  "ORDER BY id DESC) AS rn FROM task_runs WHERE run_status IN ('succeeded', 'failed', "
			  "'cancelled')) e JOIN tasks t ON t.id = e.task_id WHERE e.rn <= ?2 GROUP BY e.task_id, "
			  "t.project_id HAVING count(*) >= ?1 AND count(*) FILTER (WHERE e.run_status = 'failed') * "
			  "100 >= ?3 * count(*) ORDER BY e.task_id LIMIT ?4",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, min_runs);
	db_bind_i64(stmt, 2, max_runs);
	db_bind_i64(stmt, 3, pct);
	db_bind_i64(stmt, 4, limit);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_failing_task *f;

		*out = run_grow(a, *out, *n, &cap, sizeof(**out));
		f = &(*out)[(*n)++];
		f->ft_task_id = db_col_i64(stmt, 0);
		f->ft_project_id = db_col_i64(stmt, 1);
		f->ft_failed = db_col_int(stmt, 2);
		f->ft_runs = db_col_int(stmt, 3);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list failing tasks");
	return 0;
}

int store_run_waiting_counts(struct db *db, int64_t *queued, int64_t *retry_scheduled, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*queued = *retry_scheduled = 0;
	if (store_prepare(db,
			  "SELECT count(*) FILTER (WHERE run_status = 'queued'), "
			  "count(*) FILTER (WHERE run_status = 'retry_scheduled') "
			  "FROM task_runs WHERE run_status IN ('queued', 'retry_scheduled')",
			  &stmt, st) != 0)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*queued = db_col_i64(stmt, 0);
		*retry_scheduled = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "count waiting runs");
	return 0;
}
