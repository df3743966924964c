/*
 * What an engine's driver gives db.c (db.h): a table of functions, and the
 * two structures they share. Internal to the store.
 *
 * A driver makes a connection (its open function fills db_impl and db_drv)
 * and its statements (dr_prepare fills a db_stmt's ds_impl); db.c owns the
 * statement objects and their cache (stmt_cache.c) and forwards every call to
 * the driver of the statement's connection.
 */
#ifndef BBB_DB_DRIVER_H
#define BBB_DB_DRIVER_H

#include "store/db.h"

struct stmt_cache;
struct stmt_slot;

/* How a bound text or blob is held (db.h). */
enum db_own {
	DB_STATIC, /* the caller keeps it valid until release */
	DB_COPY, /* the driver copies it now */
	DB_OWNED, /* malloc'd; the driver frees it when done, also on failure */
};

struct db_driver {
	enum db_kind dr_kind;
	/* Prepares sql on db into *impl; `keep`: the statement will be reused
	 * (cached). Returns DB_OK or the error (left on the connection). */
	int (*dr_prepare)(struct db *db, const char *sql, int keep, void **impl);
	void (*dr_finalize)(void *impl);
	/* Ends the statement's current run and clears its parameters, ready to
	 * be bound again; DB_OK, or the error of its last step (the statement is
	 * then finalized rather than kept). */
	int (*dr_reset)(void *impl);
	int (*dr_bind_i64)(void *impl, int idx, int64_t v);
	int (*dr_bind_double)(void *impl, int idx, double v);
	int (*dr_bind_null)(void *impl, int idx);
	int (*dr_bind_text)(void *impl, int idx, const char *text, enum db_own own);
	int (*dr_bind_blob)(void *impl, int idx, void *p, size_t n, enum db_own own);
	int (*dr_step)(void *impl);
	int64_t (*dr_col_i64)(void *impl, int col);
	double (*dr_col_double)(void *impl, int col);
	const char *(*dr_col_text)(void *impl, int col);
	const void *(*dr_col_blob)(void *impl, int col);
	size_t (*dr_col_bytes)(void *impl, int col);
	int (*dr_col_is_null)(void *impl, int col);
	int (*dr_exec)(struct db *db, const char *sql);
	int (*dr_in_transaction)(struct db *db);
	int64_t (*dr_changes)(struct db *db);
	const char *(*dr_errmsg)(struct db *db);
	int (*dr_errcode)(struct db *db);
	/* Tells db's row hook (db->db_row) of the rows its statements touch
	 * from now on, or stops (db_row NULL); NULL when the engine cannot,
	 * and store_step_insert tells the rows it inserts instead. */
	void (*dr_row_hook)(struct db *db);
	/* The text of a statement (for db_row_inserted). */
	const char *(*dr_sql)(void *impl);
	/* store_fail (store.h) for this engine's errors. */
	int (*dr_fail)(bbb_status *st, struct db *db, int rc, const char *what);
	/* Closes the engine's connection (its statements are finalized). */
	void (*dr_close)(struct db *db);
};

struct db {
	const struct db_driver *db_drv;
	void *db_impl; /* sqlite3 *, or the PostgreSQL driver's connection */
	struct stmt_cache *db_cache; /* the statements kept (stmt_cache.c) */
	db_row_fn db_row; /* db_on_row's hook, NULL when none */
	void *db_row_arg;
};

struct db_stmt {
	struct db *ds_db;
	void *ds_impl; /* sqlite3_stmt *, or the PostgreSQL driver's statement */
	struct stmt_slot *ds_slot; /* its slot in the cache; NULL: finalized on release */
};

/* A new connection object around a driver's connection, with an empty
 * statement cache. */
struct db *db_wrap(const struct db_driver *drv, void *impl);
/* Tells db's row hook, on an engine without a hook of its own, of the row id
 * an `INSERT INTO <table> ...` statement s just inserted (store_step_insert). */
void db_row_inserted(struct db_stmt *s, int64_t id);

#endif
