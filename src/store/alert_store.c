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

static Beebeebrain__V1__Alert *alert_row(sqlite3_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Alert *al = (void *)arena_message(a, &beebeebrain__v1__alert__descriptor);
	int v = 0;

	al->id = sqlite3_column_int64(stmt, 0);
	al->code = store_col_text(a, stmt, 1);
	enum_from_text(&beebeebrain__v1__severity__descriptor, (const char *)sqlite3_column_text(stmt, 2), &v);
	al->severity = (Beebeebrain__V1__Severity)v;
	al->dedup_key = store_col_text(a, stmt, 3);
	al->title = store_col_text(a, stmt, 4);
	al->message = store_col_text(a, stmt, 5);
	al->task_id = sqlite3_column_int64(stmt, 6);
	al->run_id = sqlite3_column_int64(stmt, 7);
	v = 0;
	enum_from_text(&beebeebrain__v1__alert_status__descriptor, (const char *)sqlite3_column_text(stmt, 8), &v);
	al->status = (Beebeebrain__V1__AlertStatus)v;
	al->raise_count = sqlite3_column_int(stmt, 9);
	al->first_raised_at_ms = sqlite3_column_int64(stmt, 10);
	al->last_raised_at_ms = sqlite3_column_int64(stmt, 11);
	al->resolved_at_ms = sqlite3_column_int64(stmt, 12);
	al->project_id = sqlite3_column_int64(stmt, 13);
	al->acked_at_ms = sqlite3_column_int64(stmt, 14);
	al->acked_by = store_col_text(a, stmt, 15);
	al->ack_note = store_col_text(a, stmt, 16);
	al->resolved_by = store_col_text(a, stmt, 17);
	al->resolve_note = store_col_text(a, stmt, 18);
	return al;
}

int store_alert_find_open(sqlite3 *db, const char *dedup_key, struct arena *a, Beebeebrain__V1__Alert **out,
			  bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE dedup_key = ? AND status = 'open'", &stmt, st) !=
	    0)
		return -1;
	sqlite3_bind_text(stmt, 1, dedup_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = alert_row(stmt, a);
	store_release(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_fail(st, db, rc, "find alert");
}

int store_alert_insert(sqlite3 *db, Beebeebrain__V1__Alert *a, bbb_status *st)
{
	sqlite3_stmt *stmt;
	char severity[16];
	int rc;

	if (store_prepare(db,
			  "INSERT INTO alerts (code, severity, dedup_key, title, message, task_id, run_id, status, "
			  "raise_count, first_raised_at, last_raised_at, project_id) "
			  "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?, ?)",
			  &stmt, st) != 0)
		return -1;
	a->first_raised_at_ms = a->last_raised_at_ms = clock_now_ms();
	a->status = BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN;
	a->raise_count = 1;
	if (enum_text(&beebeebrain__v1__severity__descriptor, a->severity, severity, sizeof(severity)) == NULL ||
	    a->severity == 0)
		snprintf(severity, sizeof(severity), "warning");
	sqlite3_bind_text(stmt, 1, a->code, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, a->dedup_key, -1, SQLITE_STATIC);
	store_bind_free_text(stmt, 4, a->title);
	store_bind_free_text(stmt, 5, a->message);
	sqlite3_bind_int64(stmt, 6, a->task_id);
	sqlite3_bind_int64(stmt, 7, a->run_id);
	sqlite3_bind_int64(stmt, 8, a->first_raised_at_ms);
	sqlite3_bind_int64(stmt, 9, a->last_raised_at_ms);
	sqlite3_bind_int64(stmt, 10, a->project_id);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "insert alert");
	a->id = sqlite3_last_insert_rowid(db);
	return 0;
}

/* Runs an UPDATE with ?1 = now, ?2 = text (NULL: unused), ?3 = id. */
static int alert_exec_id(sqlite3 *db, const char *sql, int64_t now, const char *text, int64_t id, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	store_bind_free_text(stmt, 2, text);
	sqlite3_bind_int64(stmt, 3, id);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "update alert");
	return 0;
}

int store_alert_bump(sqlite3 *db, Beebeebrain__V1__Alert *a, const char *message, bbb_status *st)
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

int store_alert_resolve(sqlite3 *db, Beebeebrain__V1__Alert *a, bbb_status *st)
{
	return store_alert_resolve_by(db, a, "", "", st);
}

/* Runs an UPDATE of one alert with ?1 = now, ?2 and ?3 = texts (free text
 * redacted), ?4 = id. */
static int alert_exec_who(sqlite3 *db, const char *sql, int64_t now, const char *who, const char *note, int64_t id,
			  bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, now);
	sqlite3_bind_text(stmt, 2, who, -1, SQLITE_STATIC);
	store_bind_free_text(stmt, 3, note);
	sqlite3_bind_int64(stmt, 4, id);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "update alert");
	return 0;
}

int store_alert_resolve_by(sqlite3 *db, Beebeebrain__V1__Alert *a, const char *who, const char *note, bbb_status *st)
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

int store_alert_ack(sqlite3 *db, Beebeebrain__V1__Alert *a, const char *who, const char *note, bbb_status *st)
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

int store_alert_get(sqlite3 *db, int64_t id, struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE id = ?", &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = alert_row(stmt, a);
	store_release(stmt);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return status_fail(st, "ALERT_NOT_FOUND", "alert %lld does not exist", (long long)id);
	return store_fail(st, db, rc, "get alert");
}

static void *alert_row_any(sqlite3_stmt *stmt, struct arena *a)
{
	return alert_row(stmt, a);
}

int store_alert_list(sqlite3 *db, const struct store_alert_filter *f, int64_t before_id, int limit, struct arena *a,
		     Beebeebrain__V1__Alert ***out, size_t *n, int *more, bbb_status *st)
{
	sqlite3_stmt *stmt;
	char status_text[32] = "";

	if (store_prepare(db,
			  "SELECT " ALERT_COLS " FROM alerts WHERE id < ?1 AND (?2 = '' OR status = ?2) "
			  "AND (?3 = '' OR code = ?3) AND (?4 = 0 OR project_id = ?4) ORDER BY id DESC LIMIT ?5",
			  &stmt, st) != 0)
		return -1;
	if (f->af_status != 0)
		enum_text(&beebeebrain__v1__alert_status__descriptor, f->af_status, status_text, sizeof(status_text));
	sqlite3_bind_int64(stmt, 1, before_id != 0 ? before_id : INT64_MAX);
	sqlite3_bind_text(stmt, 2, status_text, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, f->af_code != NULL ? f->af_code : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, f->af_project_id);
	sqlite3_bind_int(stmt, 5, limit + 1);
	return store_collect(db, stmt, limit, alert_row_any, a, (void ***)out, n, more, "list alerts", st);
}

int store_alert_list_open(sqlite3 *db, int limit, struct arena *a, Beebeebrain__V1__Alert ***out, size_t *n,
			  bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE status = 'open' ORDER BY id DESC LIMIT ?", &stmt,
			  st) != 0)
		return -1;
	sqlite3_bind_int(stmt, 1, limit);
	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		(*out)[(*n)++] = alert_row(stmt, a);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "list alerts");
	return 0;
}

int store_alert_count_open(sqlite3 *db, int64_t *n, int64_t *unacked, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	*n = *unacked = 0;
	if (store_prepare(db, "SELECT count(*), coalesce(sum(acked_at IS NULL), 0) FROM alerts WHERE status = 'open'",
			  &stmt, st) != 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*n = sqlite3_column_int64(stmt, 0);
		*unacked = sqlite3_column_int64(stmt, 1);
	}
	store_release(stmt);
	if (rc != SQLITE_ROW)
		return store_fail(st, db, rc, "count open alerts");
	return 0;
}

int store_alert_latest_of_code(sqlite3 *db, const char *code, struct arena *a, Beebeebrain__V1__Alert **out,
			       bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	*out = NULL;
	if (store_prepare(db, "SELECT " ALERT_COLS " FROM alerts WHERE code = ? ORDER BY id DESC LIMIT 1", &stmt, st) !=
	    0)
		return -1;
	sqlite3_bind_text(stmt, 1, code, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = alert_row(stmt, a);
	store_release(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(st, db, rc, "read the latest alert of a code");
	return *out != NULL;
}
