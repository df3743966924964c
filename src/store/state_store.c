/* server_state rows (see state_store.h). */
#include "store/state_store.h"

#include "common/clock.h"
#include "store/store.h"

int64_t store_state_get(struct db *db, const char *key, int64_t dflt)
{
	struct db_stmt *stmt;
	bbb_status ignored;
	int64_t v = dflt;

	if (store_prepare(db, "SELECT value FROM server_state WHERE key = ?", &stmt, &ignored) != 0)
		return dflt;
	db_bind_text(stmt, 1, key);
	if (db_step(stmt) == DB_ROW)
		v = db_col_i64(stmt, 0);
	store_release(stmt);
	return v;
}

int store_state_raise(struct db *db, const char *key, int64_t value, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

#define STATE_RAISE(max2)                                                                                              \
	"INSERT INTO server_state (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = " max2          \
	"(server_state.value, excluded.value)"
	/* The larger of two values: SQLite's max(), PostgreSQL's greatest(). */
	if (store_prepare(db, DB_SQL(db, STATE_RAISE("max"), STATE_RAISE("greatest")), &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, key);
	db_bind_i64(stmt, 2, value);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "set server state");
	return 0;
}

int store_state_probe_write(struct db *db, void *arg, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	(void)arg;
	if (store_prepare(db,
			  "INSERT INTO server_state (key, value) VALUES ('writer_probe_at_ms', ?1) "
			  "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, clock_now_ms());
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "write probe");
	return 0;
}
