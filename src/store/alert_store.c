/* Alerts: rows <-> Beebeebrain__V1__Alert. */
#include "store/alert_store.h"

#include <stdint.h>
#include <stdio.h>

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define ALERT_COLS                                                                                                     \
	"id, code, severity, dedup_key, title, message, task_id, run_id, status, raise_count, first_raised_at, "       \
	"last_raised_at, coalesce(resolved_at, 0), project_id, coalesce(acked_at, 0), acked_by, ack_note, "            \
	"resolved_by, resolve_note"

static Beebeebrain__V1__Alert *alert_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Alert *al = (void *)arena_message(a, &beebeebrain__v1__alert__descriptor);
	int v = 0;

	al->id = db_col_i64(stmt, 0);
	al->code = store_col_text(a, stmt, 1);
	enum_from_text(&beebeebrain__v1__severity__descriptor, db_col_text(stmt, 2), &v);
	al->severity = (Beebeebrain__V1__Severity)v;
	al->dedup_key = store_col_text(a, stmt, 3);
	al->title = store_col_text(a, stmt, 4);
	al->message = store_col_text(a, stmt, 5);
	al->task_id = db_col_i64(stmt, 6);
	al->run_id = db_col_i64(stmt, 7);
	v = 0;
	enum_from_text(&beebeebrain__v1__alert_status__descriptor, db_col_text(stmt, 8), &v);
	al->status = (Beebeebrain__V1__AlertStatus)v;
	al->raise_count = db_col_int(stmt, 9);
	al->first_raised_at_ms = db_col_i64(stmt, 10);
	al->last_raised_at_ms = db_col_i64(stmt, 11);
	al->resolved_at_ms = db_col_i64(stmt, 12);
	al->project_id = db_col_i64(stmt, 13);
	al->acked_at_ms = db_col_i64(stmt, 14);
	al->acked_by = store_col_text(a, stmt, 15);
	al->ack_note = store_col_text(a, stmt, 16);
	al->resolved_by = store_col_text(a, stmt, 17);
	al->resolve_note = store_col_text(a, stmt, 18);
	return al;
}

int store_alert_find_open(struct db *db, const char *dedup_key, struct arena *a, Beebeebrain__V1__Alert **out,
			  bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE dedup_key = ? AND status = 'open'", &stmt, st) !=
	    0)
		return -1;
	db_bind_text(stmt, 1, dedup_key);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = alert_row(stmt, a);
	store_release(stmt);
	if (rc == DB_ROW)
		return 1;
	if (rc == DB_DONE)
		return 0;
	return store_fail(st, db, rc, "find alert");
}

int store_alert_insert(struct db *db, Beebeebrain__V1__Alert *a, bbb_status *st)
{
	struct db_stmt *stmt;
	char severity[16];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO alerts (code, severity, dedup_key, title, message, task_id, run_id, status, "
			  "raise_count, first_raised_at, last_raised_at, project_id) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?, ?) "
			  "ON CONFLICT (dedup_key) WHERE status = 'open' DO NOTHING RETURNING id",
			  &stmt, st) != 0)
		return -1;
	a->first_raised_at_ms = a->last_raised_at_ms = clock_now_ms();
	a->status = BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN;
	a->raise_count = 1;
	if (enum_text(&beebeebrain__v1__severity__descriptor, a->severity, severity, sizeof(severity)) == NULL ||
	    a->severity == 0)
		snprintf(severity, sizeof(severity), "warning");
	db_bind_text(stmt, 1, a->code);
	db_bind_text(stmt, 2, severity);
	db_bind_text(stmt, 3, a->dedup_key);
	store_bind_free_text(stmt, 4, a->title);
	store_bind_free_text(stmt, 5, a->message);
	db_bind_i64(stmt, 6, a->task_id);
	db_bind_i64(stmt, 7, a->run_id);
	db_bind_i64(stmt, 8, a->first_raised_at_ms);
	db_bind_i64(stmt, 9, a->last_raised_at_ms);
	db_bind_i64(stmt, 10, a->project_id);
	/* No row back: another server's open alert holds the key (DO NOTHING). */
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		a->id = db_col_i64(stmt, 0);
		rc = db_step(stmt);
	} else if (rc == DB_DONE) {
		store_release(stmt);
		return 1;
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "insert alert");
	return 0;
}

/* Runs an UPDATE with ?1 = now, ?2 = text (NULL: unused), ?3 = id. */
static int alert_exec_id(struct db *db, const char *sql, int64_t now, const char *text, int64_t id, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, now);
	store_bind_free_text(stmt, 2, text);
	db_bind_i64(stmt, 3, id);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "update alert");
	return 0;
}

int store_alert_bump(struct db *db, Beebeebrain__V1__Alert *a, const char *message, bbb_status *st)
{
	int64_t now = clock_now_ms();

	if (alert_exec_id(db,
			  "UPDATE alerts SET raise_count = raise_count + 1, last_raised_at = ?1, message = ?2 "
			  "WHERE id = ?3",
			  now, message, a->id, st) != 0)
		return -1;
	a->raise_count++;
	a->last_raised_at_ms = now;
	a->message = (char *)message;
	return 0;
}

int store_alert_resolve(struct db *db, Beebeebrain__V1__Alert *a, bbb_status *st)
{
	return store_alert_resolve_by(db, a, "", "", st);
}

/* Runs an UPDATE of one alert with ?1 = now, ?2 and ?3 = texts (free text
 * redacted), ?4 = id. */
static int alert_exec_who(struct db *db, const char *sql, int64_t now, const char *who, const char *note, int64_t id,
			  bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, now);
	db_bind_text(stmt, 2, who);
	store_bind_free_text(stmt, 3, note);
	db_bind_i64(stmt, 4, id);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "update alert");
	return 0;
}

int store_alert_resolve_by(struct db *db, Beebeebrain__V1__Alert *a, const char *who, const char *note, bbb_status *st)
{
	int64_t now = clock_now_ms();

	if (alert_exec_who(db,
			   "UPDATE alerts SET status = 'resolved', resolved_at = ?1, resolved_by = ?2, "
			   "resolve_note = coalesce(?3, '') WHERE id = ?4",
			   now, who, note, a->id, st) != 0)
		return -1;
	a->status = BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_RESOLVED;
	a->resolved_at_ms = now;
	a->resolved_by = (char *)who;
	a->resolve_note = (char *)note;
	return 0;
}

int store_alert_ack(struct db *db, Beebeebrain__V1__Alert *a, const char *who, const char *note, bbb_status *st)
{
	int64_t now = clock_now_ms();

	if (alert_exec_who(db,
			   "UPDATE alerts SET acked_at = ?1, acked_by = ?2, ack_note = coalesce(?3, '') WHERE id = ?4",
			   now, who, note, a->id, st) != 0)
		return -1;
	a->acked_at_ms = now;
	a->acked_by = (char *)who;
	a->ack_note = (char *)note;
	return 0;
}

int store_alert_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE id = ?", &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = alert_row(stmt, a);
	store_release(stmt);
	if (rc == DB_ROW)
		return 0;
	if (rc == DB_DONE)
		return status_fail(st, "ALERT_NOT_FOUND", "alert %lld does not exist", (long long)id);
	return store_fail(st, db, rc, "get alert");
}

static void *alert_row_any(struct db_stmt *stmt, struct arena *a)
{
	return alert_row(stmt, a);
}

int store_alert_list(struct db *db, const struct store_alert_filter *f, int64_t before_id, int limit, struct arena *a,
		     Beebeebrain__V1__Alert ***out, size_t *n, int *more, bbb_status *st)
{
	struct db_stmt *stmt;
	char status_text[32] = "";

	if (store_prepare(db,
			  "SELECT " ALERT_COLS " FROM alerts WHERE id < ?1 AND (?2 = '' OR status = ?2) "
			  "AND (?3 = '' OR code = ?3) AND (?4 = 0 OR project_id = ?4) ORDER BY id DESC LIMIT ?5",
			  &stmt, st) != 0)
		return -1;
	if (f->af_status != 0)
		enum_text(&beebeebrain__v1__alert_status__descriptor, f->af_status, status_text, sizeof(status_text));
	db_bind_i64(stmt, 1, before_id != 0 ? before_id : INT64_MAX);
	db_bind_text(stmt, 2, status_text);
	db_bind_text(stmt, 3, f->af_code != NULL ? f->af_code : "");
	db_bind_i64(stmt, 4, f->af_project_id);
	db_bind_i64(stmt, 5, limit + 1);
	return store_collect(db, stmt, limit, alert_row_any, a, (void ***)out, n, more, "list alerts", st);
}

int store_alert_list_open(struct db *db, int limit, struct arena *a, Beebeebrain__V1__Alert ***out, size_t *n,
			  bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE status = 'open' ORDER BY id DESC LIMIT ?", &stmt,
			  st) != 0)
		return -1;
	db_bind_i64(stmt, 1, limit);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	while ((rc = db_step(stmt)) == DB_ROW)
		(*out)[(*n)++] = alert_row(stmt, a);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "list alerts");
	return 0;
}

int store_alert_count_open(struct db *db, int64_t *n, int64_t *unacked, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*n = *unacked = 0;
	if (store_prepare(db,
			  "SELECT count(*), count(*) FILTER (WHERE acked_at IS NULL) FROM alerts WHERE status = 'open'",
			  &stmt, st) != 0)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*n = db_col_i64(stmt, 0);
		*unacked = db_col_i64(stmt, 1);
	}
	store_release(stmt);
	if (rc != DB_ROW)
		return store_fail(st, db, rc, "count open alerts");
	return 0;
}

int store_alert_latest_of_code(struct db *db, const char *code, struct arena *a, Beebeebrain__V1__Alert **out,
			       bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*out = NULL;
	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE code = ? ORDER BY id DESC LIMIT 1", &stmt, st) !=
	    0)
		return -1;
	db_bind_text(stmt, 1, code);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = alert_row(stmt, a);
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, "read the latest alert of a code");
	return *out != NULL;
}
