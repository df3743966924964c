/* server_state rows (see state_store.h). */
#include "store/state_store.h"

#include "common/clock.h"
#include "store/store.h"

int64_t store_state_get(sqlite3 *db, const char *key, int64_t dflt)
{
	sqlite3_stmt *stmt;
	bbb_status ignored;
	int64_t v = dflt;

	if (store_prepare(db, "SELECT value FROM server_state WHERE key = ?", &stmt, &ignored) != 0)
		return dflt;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	store_release(stmt);
	return v;
}

int store_state_raise(sqlite3 *db, const char *key, int64_t value, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO server_state (key, value) VALUES (?1, ?2) "
			  "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
			  &stmt, st) != 0)
		return -1;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, value);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "set server state");
	return 0;
}

int store_state_probe_write(sqlite3 *db, void *arg, bbb_status *st)
{
	sqlite3_stmt *stmt;
	int rc;

	(void)arg;
	if (store_prepare(db,
			  "INSERT INTO server_state (key, value) VALUES ('writer_probe_at_ms', ?1) "
			  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			  &stmt, st) != 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, clock_now_ms());
	rc = sqlite3_step(stmt);
	store_release(stmt);
	if (rc != SQLITE_DONE)
		return store_fail(st, db, rc, "write probe");
	return 0;
}
