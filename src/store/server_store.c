/* Table `servers` (see server_store.h). */
#include "store/server_store.h"

#include "common/status.h"
#include "store/store.h"

int store_server_register(struct db *db, const struct store_server_info *info, int64_t now_ms, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO servers (id, address, version, pid, started_at, heartbeat_at) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
			  &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, info->srv_id);
	db_bind_text(stmt, 2, info->srv_address != NULL ? info->srv_address : "");
	db_bind_text(stmt, 3, info->srv_version != NULL ? info->srv_version : "");
	db_bind_i64(stmt, 4, info->srv_pid);
	db_bind_i64(stmt, 5, now_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "register this server");
	return 0;
}

/* Runs `sql` (?1 this server's id, ?2 now) on this server's row; *found
 * (may be NULL): whether the row was there. */
static int server_update(struct db *db, const char *sql, const char *id, int64_t now_ms, const char *what, int *found,
			 bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_text(stmt, 1, id);
	db_bind_i64(stmt, 2, now_ms);
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, what);
	if (found != NULL)
		*found = db_changes(db) > 0;
	return 0;
}

int store_server_heartbeat(struct db *db, const char *id, int64_t now_ms, int *found, bbb_status *st)
{
	*found = 0;
	return server_update(db, "UPDATE servers SET heartbeat_at = ?2 WHERE id = ?1", id, now_ms,
			     "renew this server's heartbeat", found, st);
}

int store_server_stop(struct db *db, const char *id, int64_t now_ms, bbb_status *st)
{
	return server_update(db, "UPDATE servers SET stopped_at = ?2, heartbeat_at = ?2 WHERE id = ?1", id, now_ms,
			     "mark this server stopped", NULL, st);
}

static Beebeebrain__V1__Server *server_row(struct db_stmt *stmt, struct arena *a)
{
	Beebeebrain__V1__Server *s = (void *)arena_message(a, &beebeebrain__v1__server__descriptor);

	s->id = store_col_text(a, stmt, 0);
	s->address = store_col_text(a, stmt, 1);
	s->version = store_col_text(a, stmt, 2);
	s->pid = (int32_t)db_col_i64(stmt, 3);
	s->started_at_ms = db_col_i64(stmt, 4);
	s->heartbeat_at_ms = db_col_i64(stmt, 5);
	s->stopped_at_ms = db_col_i64(stmt, 6); /* NULL reads as 0: not stopped */
	return s;
}

int store_server_list(struct db *db, int64_t since_ms, int limit, struct arena *a, Beebeebrain__V1__Server ***out,
		      size_t *n, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*out = arena_alloc(a, sizeof(**out) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	if (limit <= 0)
		return 0;
	if (store_prepare(db,
			  "SELECT id, address, version, pid, started_at, heartbeat_at, stopped_at FROM servers "
			  "WHERE heartbeat_at >= ?1 ORDER BY heartbeat_at DESC, id LIMIT ?2",
			  &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, since_ms);
	db_bind_i64(stmt, 2, limit);
	while ((rc = db_step(stmt)) == DB_ROW && *n < (size_t)limit)
		(*out)[(*n)++] = server_row(stmt, a);
	store_release(stmt);
	if (rc != DB_DONE && rc != DB_ROW)
		return store_fail(st, db, rc, "list the servers");
	return 0;
}

int store_server_prune(struct db *db, int64_t cutoff_ms, const char *keep_id, int *removed, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	*removed = 0;
	if (store_prepare(db, "DELETE FROM servers WHERE id <> ?2 AND (heartbeat_at < ?1 OR stopped_at < ?1)", &stmt,
			  st) != 0)
		return -1;
	db_bind_i64(stmt, 1, cutoff_ms);
	db_bind_text(stmt, 2, keep_id != NULL ? keep_id : "");
	rc = db_step(stmt);
	store_release(stmt);
	if (rc != DB_DONE)
		return store_fail(st, db, rc, "delete the rows of servers long gone");
	*removed = (int)db_changes(db);
	return 0;
}
