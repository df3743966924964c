/* Table `breakers` (see breaker_store.h). */
#include "store/breaker_store.h"

#include <string.h>

#include "common/status.h"
#include "store/store.h"

int store_breaker_open(struct db *db, const char *endpoint, const char *me, int64_t now_ms, int64_t until,
		       int64_t cooldown_ms, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	/* One statement, so two servers opening at once both land on one row. */
	if (store_prepare(
		    db,
		    "INSERT INTO breakers (endpoint, state, open_until, cooldown_ms, opened_by, opens, updated_at) "
		    "VALUES (?1, 'open', ?2, ?3, ?4, 1, ?5) ON CONFLICT (endpoint) DO UPDATE SET "
		    "open_until = CASE WHEN breakers.state = 'open' AND breakers.open_until > excluded.open_until "
		    "THEN breakers.open_until ELSE excluded.open_until END, "
		    "cooldown_ms = CASE WHEN breakers.state = 'open' AND breakers.cooldown_ms > excluded.cooldown_ms "
		    "THEN breakers.cooldown_ms ELSE excluded.cooldown_ms END, "
		    "probe_owner = CASE WHEN breakers.state = 'open' THEN breakers.probe_owner END, "
		    "probe_until = CASE WHEN breakers.state = 'open' THEN breakers.probe_until END, "
		    "opened_by = CASE WHEN breakers.state = 'open' THEN breakers.opened_by ELSE excluded.opened_by "
		    "END, "
		    "opens = breakers.opens + CASE WHEN breakers.state = 'open' THEN 0 ELSE 1 END, "
		    "state = 'open', updated_at = excluded.updated_at",
		    &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, endpoint);
	db_bind_i64(stmt, 2, until);
	db_bind_i64(stmt, 3, cooldown_ms);
	db_bind_text(stmt, 4, me);
	db_bind_i64(stmt, 5, now_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "open the shared breaker");
	return 0;
}

int store_breaker_probe_take(struct db *db, const char *endpoint, const char *me, int64_t now_ms, int64_t lease_until,
			     int *won, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*won = 0;
	if (store_prepare(db,
			  "UPDATE breakers SET probe_owner = ?2, probe_until = ?4, updated_at = ?3 "
			  "WHERE endpoint = ?1 AND state = 'open' AND open_until <= ?3 "
			  "AND (probe_owner IS NULL OR probe_owner = ?2 OR probe_until < ?3)",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, endpoint);
	db_bind_text(stmt, 2, me);
	db_bind_i64(stmt, 3, now_ms);
	db_bind_i64(stmt, 4, lease_until);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "take the probe lease of the shared breaker");
	*won = db_changes(db) > 0;
	return 0;
}

int store_breaker_probe_done(struct db *db, const char *endpoint, const char *me, int64_t now_ms, int closed,
			     int64_t until, int64_t cooldown_ms, int *applied, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*applied = 0;
	if (store_prepare(db,
			  closed ? "UPDATE breakers SET state = 'closed', open_until = 0, cooldown_ms = 0, "
				   "probe_owner = NULL, probe_until = NULL, updated_at = ?3 "
				   "WHERE endpoint = ?1 AND state = 'open' AND probe_owner = ?2"
				 : "UPDATE breakers SET open_until = ?4, cooldown_ms = ?5, probe_owner = NULL, "
				   "probe_until = NULL, opens = opens + 1, updated_at = ?3 "
				   "WHERE endpoint = ?1 AND state = 'open' AND probe_owner = ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, endpoint);
	db_bind_text(stmt, 2, me);
	db_bind_i64(stmt, 3, now_ms);
	if (!closed) {
		db_bind_i64(stmt, 4, until);
		db_bind_i64(stmt, 5, cooldown_ms);
	}
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "record the probe of the shared breaker");
	*applied = db_changes(db) > 0;
	return 0;
}

int store_breaker_close(struct db *db, const char *endpoint, int64_t now_ms, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "UPDATE breakers SET state = 'closed', open_until = 0, cooldown_ms = 0, probe_owner = NULL, "
			  "probe_until = NULL, updated_at = ?2 WHERE endpoint = ?1 AND state = 'open'",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, endpoint);
	db_bind_i64(stmt, 2, now_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "close the shared breaker");
	return 0;
}

int store_breaker_list(struct db *db, struct arena *a, struct store_breaker **out, size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	size_t cap = 8;
	int rc;

	*n = 0;
	*out = arena_alloc(a, sizeof(**out) * cap);
	if (store_prepare(db,
			  "SELECT endpoint, state, open_until, cooldown_ms, coalesce(probe_owner, ''), "
			  "coalesce(probe_until, 0), opened_by, opens, updated_at FROM breakers",
			  &stmt, st) != 0)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_breaker *b;

		if (*n == cap) {
			struct store_breaker *more = arena_alloc(a, sizeof(*more) * cap * 2);

			memcpy(more, *out, sizeof(*more) * cap);
			*out = more;
			cap *= 2;
		}
		b = &(*out)[(*n)++];
		b->sb_endpoint = store_col_text(a, stmt, 0);
		b->sb_open = strcmp(db_col_text(stmt, 1), "open") == 0;
		b->sb_open_until = db_col_i64(stmt, 2);
		b->sb_cooldown_ms = db_col_i64(stmt, 3);
		b->sb_probe_owner = store_col_text(a, stmt, 4);
		b->sb_probe_until = db_col_i64(stmt, 5);
		b->sb_opened_by = store_col_text(a, stmt, 6);
		b->sb_opens = db_col_i64(stmt, 7);
		b->sb_updated_at = db_col_i64(stmt, 8);
	}
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "read the shared breakers");
	return 0;
}
