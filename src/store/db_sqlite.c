/*
 * The SQLite driver of db.h: a connection is a sqlite3 handle opened in
 * SQLITE_OPEN_NOMUTEX mode (one thread at a time), statements are
 * sqlite3_stmt, and every call is SQLite's own. Also here: how a connection
 * is opened (store_conn_open: WAL, the house pragmas, our SQL functions) and
 * what SQLite's errors mean to a caller (store_fail).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "common/status.h"
#include "store/db_driver.h"
#include "store/store.h"

static const struct db_driver db_sqlite_driver;

/* What an I/O error on db's file system most likely was, as an errno:
 * SQLite's own record of it (sqlite3_system_errno) is errno at the time the
 * error is reported, often no longer the failed call's, so the file system
 * holding the database is asked too: read-only (EROFS), or no space left
 * (ENOSPC). 0 when neither. */
static int store_io_errno(sqlite3 *db)
{
	int err = sqlite3_system_errno(db);
	const char *path = sqlite3_db_filename(db, "main");
	struct statvfs sv;

	if (err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES || err == EPERM)
		return err;
	if (path == NULL || path[0] == '\0' || statvfs(path, &sv) != 0)
		return 0;
	if (sv.f_flag & ST_RDONLY)
		return EROFS;
	if (sv.f_bavail == 0)
		return ENOSPC;
	return 0;
}

static int sq_fail(bbb_status *st, struct db *conn, int rc, const char *what)
{
	sqlite3 *db = conn != NULL ? conn->db_impl : NULL;
	int ext = db != NULL ? sqlite3_extended_errcode(db) : rc;
	const char *msg = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	/* Callers that lost the precise code pass SQLITE_ERROR; the connection
	 * still has it. The OS error only means something after an I/O error. */
	int code = (rc & 0xff) == SQLITE_ERROR ? ext & 0xff : rc & 0xff;
	int os = db != NULL && (code == SQLITE_IOERR || code == SQLITE_CANTOPEN) ? store_io_errno(db) : 0;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return status_fail(st, "DB_LOCKED", "%s: database is locked (another connection holds the write lock)",
				   what);
	if (code == SQLITE_FULL || os == ENOSPC || os == EDQUOT)
		return status_fail(st, "DISK_FULL", "%s: the disk holding the database is full (%s); not applied", what,
				   msg);
	if (code == SQLITE_READONLY || os == EROFS || os == EACCES || os == EPERM)
		return status_fail(st, "DB_READ_ONLY", "%s: the database cannot be written (%s); not applied", what,
				   msg);
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
		return status_fail(st, "DB_CORRUPT", "%s: %s; see `beebeebrain restore`", what, msg);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return status_fail(st, "RESOURCE_CONFLICT", "%s: %s", what, msg);
	return status_fail(st, "INTERNAL_ERROR", "%s: %s", what, msg);
}

/* a + b for int64, held at INT64_MAX / INT64_MIN instead of wrapping. */
static int64_t store_sat_add64(int64_t a, int64_t b)
{
	int64_t sum;

	if (!__builtin_add_overflow(a, b, &sum))
		return sum;
	return b > 0 ? INT64_MAX : INT64_MIN;
}

/* SQL sat_add(a, b): SQLite's + turns an integer overflow into a REAL, which
 * then reads back as a different number; counts and money stay integers. */
static void store_sql_sat_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	sqlite3_result_int64(ctx, store_sat_add64(sqlite3_value_int64(argv[0]), sqlite3_value_int64(argv[1])));
}

/* SQL sat_sum(x): sum() fails the whole query with "integer overflow"; this
 * one holds at the bound, and is 0 over no rows. */
static void store_sql_sat_sum_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	int64_t *sum = sqlite3_aggregate_context(ctx, sizeof(*sum));

	(void)argc;
	if (sum == NULL) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	*sum = store_sat_add64(*sum, sqlite3_value_int64(argv[0]));
}

static void store_sql_sat_sum_final(sqlite3_context *ctx)
{
	int64_t *sum = sqlite3_aggregate_context(ctx, 0);

	sqlite3_result_int64(ctx, sum != NULL ? *sum : 0);
}

static int store_register_functions(sqlite3 *db)
{
	const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
	int rc = sqlite3_create_function_v2(db, "sat_add", 2, flags, NULL, store_sql_sat_add, NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "sat_sum", 1, flags, NULL, NULL, store_sql_sat_sum_step,
						store_sql_sat_sum_final, NULL);
	return rc;
}

/* Process-wide SQLite settings, made before SQLite initializes (its first
 * connection). MEMSTATUS off: SQLite otherwise counts every allocation of
 * every connection under one global mutex (sqlite3_memory_used, which
 * nothing here reads); under the writer and the readers at once that mutex
 * was about 7% of the writer's time. When SQLite was initialized already
 * (a program that opened a connection of its own first) the call fails and
 * the default stays. */
static void store_sqlite_configure(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static int sq_prepare(struct db *db, const char *sql, int keep, void **impl)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v3(db->db_impl, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, NULL);

	*impl = stmt;
	return rc;
}

static void sq_finalize(void *impl)
{
	sqlite3_finalize(impl);
}

static int sq_reset(void *impl)
{
	int rc = sqlite3_reset(impl);

	sqlite3_clear_bindings(impl);
	return rc;
}

static int sq_bind_i64(void *impl, int idx, int64_t v)
{
	return sqlite3_bind_int64(impl, idx, v);
}

static int sq_bind_double(void *impl, int idx, double v)
{
	return sqlite3_bind_double(impl, idx, v);
}

static int sq_bind_null(void *impl, int idx)
{
	return sqlite3_bind_null(impl, idx);
}

static sqlite3_destructor_type sq_destructor(enum db_own own)
{
	switch (own) {
	case DB_STATIC:
		return SQLITE_STATIC;
	case DB_COPY:
		return SQLITE_TRANSIENT;
	case DB_OWNED:
		break;
	}
	return free;
}

static int sq_bind_text(void *impl, int idx, const char *text, enum db_own own)
{
	/* SQLite frees an owned text also when the bind fails. */
	return sqlite3_bind_text(impl, idx, text, -1, sq_destructor(own));
}

static int sq_bind_blob(void *impl, int idx, void *p, size_t n, enum db_own own)
{
	if (n > (size_t)INT32_MAX) {
		if (own == DB_OWNED)
			free(p);
		return SQLITE_TOOBIG;
	}
	return sqlite3_bind_blob(impl, idx, p, (int)n, sq_destructor(own));
}

static int sq_step(void *impl)
{
	return sqlite3_step(impl);
}

static int64_t sq_col_i64(void *impl, int col)
{
	return sqlite3_column_int64(impl, col);
}

static double sq_col_double(void *impl, int col)
{
	return sqlite3_column_double(impl, col);
}

static const char *sq_col_text(void *impl, int col)
{
	return (const char *)sqlite3_column_text(impl, col);
}

static const void *sq_col_blob(void *impl, int col)
{
	return sqlite3_column_blob(impl, col);
}

static size_t sq_col_bytes(void *impl, int col)
{
	return (size_t)sqlite3_column_bytes(impl, col);
}

static int sq_col_is_null(void *impl, int col)
{
	return sqlite3_column_type(impl, col) == SQLITE_NULL;
}

static int sq_exec(struct db *db, const char *sql)
{
	return sqlite3_exec(db->db_impl, sql, NULL, NULL, NULL);
}

static int sq_in_transaction(struct db *db)
{
	return !sqlite3_get_autocommit(db->db_impl);
}

static int64_t sq_changes(struct db *db)
{
	return sqlite3_changes64(db->db_impl);
}

static void sq_row(void *arg, int op, const char *dbname, const char *table, sqlite3_int64 rowid)
{
	struct db *db = arg;

	(void)dbname;
	db->db_row(db->db_row_arg, op, table, rowid);
}

/* Nothing else sets an update hook on a connection (SQLite could not hand
 * back an earlier hook's function to restore). */
static void sq_row_hook(struct db *db)
{
	sqlite3_update_hook(db->db_impl, db->db_row != NULL ? sq_row : NULL, db);
}

static const char *sq_sql(void *impl)
{
	return sqlite3_sql(impl);
}

static const char *sq_errmsg(struct db *db)
{
	return sqlite3_errmsg(db->db_impl);
}

static int sq_errcode(struct db *db)
{
	return sqlite3_extended_errcode(db->db_impl);
}

static void sq_close(struct db *db)
{
	sqlite3_stmt *stmt;

	while ((stmt = sqlite3_next_stmt(db->db_impl, NULL)) != NULL)
		sqlite3_finalize(stmt);
	sqlite3_close(db->db_impl);
}

static const struct db_driver db_sqlite_driver = {
	.dr_kind = DB_SQLITE,
	.dr_prepare = sq_prepare,
	.dr_finalize = sq_finalize,
	.dr_reset = sq_reset,
	.dr_bind_i64 = sq_bind_i64,
	.dr_bind_double = sq_bind_double,
	.dr_bind_null = sq_bind_null,
	.dr_bind_text = sq_bind_text,
	.dr_bind_blob = sq_bind_blob,
	.dr_step = sq_step,
	.dr_col_i64 = sq_col_i64,
	.dr_col_double = sq_col_double,
	.dr_col_text = sq_col_text,
	.dr_col_blob = sq_col_blob,
	.dr_col_bytes = sq_col_bytes,
	.dr_col_is_null = sq_col_is_null,
	.dr_exec = sq_exec,
	.dr_in_transaction = sq_in_transaction,
	.dr_changes = sq_changes,
	.dr_row_hook = sq_row_hook,
	.dr_sql = sq_sql,
	.dr_errmsg = sq_errmsg,
	.dr_errcode = sq_errcode,
	.dr_fail = sq_fail,
	.dr_close = sq_close,
};

int store_sqlite_open(const char *path, int readonly, int durability_full, int busy_timeout_ms, struct db **out,
		      bbb_status *st)
{
	static pthread_once_t configured = PTHREAD_ONCE_INIT;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	sqlite3 *db = NULL;
	struct db tmp = {.db_drv = &db_sqlite_driver};
	char pragmas[256], what[512];
	char *err = NULL;
	int rc;

	flags |= SQLITE_OPEN_NOMUTEX; /* one connection, one thread */
	pthread_once(&configured, store_sqlite_configure);
	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(what, sizeof(what), "cannot open database %.400s", path);
		tmp.db_impl = db;
		sq_fail(st, &tmp, rc, what);
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, busy_timeout_ms > 0 ? busy_timeout_ms : 5000);
	/* temp_store=MEMORY on a connection that writes: every write runs in a
	 * savepoint, and the savepoints' journal of a group's transaction
	 * otherwise spills to a temp file past 64 KiB (opened, written, unlinked
	 * and closed on every commit: a third of the writer's time on runs).
	 * Readers keep SQLite's default, so a large sort spills to disk instead
	 * of growing the process. */
	/* journal_size_limit: see STORE_WAL_SIZE_LIMIT (store.h). */
	if (readonly)
		snprintf(pragmas, sizeof(pragmas), "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;",
			 durability_full ? "FULL" : "NORMAL");
	else
		snprintf(pragmas, sizeof(pragmas),
			 "PRAGMA journal_mode=WAL; PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=%lld; "
			 "PRAGMA foreign_keys=ON; PRAGMA synchronous=%s;",
			 STORE_WAL_SIZE_LIMIT, durability_full ? "FULL" : "NORMAL");
	rc = sqlite3_exec(db, pragmas, NULL, NULL, &err);
	if (rc == SQLITE_OK)
		rc = store_register_functions(db);
	if (rc != SQLITE_OK) {
		sqlite3_free(err);
		snprintf(what, sizeof(what), "cannot configure database %.400s", path);
		tmp.db_impl = db;
		sq_fail(st, &tmp, rc, what);
		sqlite3_close(db);
		return -1;
	}
	*out = db_wrap(&db_sqlite_driver, db);
	return 0;
}

void store_conn_close(struct db *db)
{
	db_close(db);
}
