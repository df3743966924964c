/* Alerts: rows <-> Beebeebrain__V1__Alert. */
#include "store/alert_store.h"

#include <stdio.h>

#include "common/clock.h"
#include "common/enum_text.h"
#include "common/status.h"
#include "store/store.h"

#define ALERT_COLS                                                                                                     \
	"id, code, severity, dedup_key, title, message, task_id, run_id, status, raise_count, first_raised_at, "       \
	"last_raised_at, coalesce(resolved_at, 0)"

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
	sqlite3_finalize(stmt);
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
			  "raise_count, first_raised_at, last_raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', 1, ?, ?)",
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
	rc = sqlite3_step(stmt);
	sqlite3_finalize(stmt);
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
	sqlite3_finalize(stmt);
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
	int64_t now = clock_now_ms();

	if (alert_exec_id(db, "UPDATE alerts SET status = 'resolved', resolved_at = ?1 WHERE id = ?3", now, NULL, a->id,
			  st) != 0)
		return -1;
	a->status = BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_RESOLVED;
	a->resolved_at_ms = now;
	return 0;
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
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "list alerts");
	return 0;
}
