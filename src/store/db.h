/*
 * Database connections and statements, whatever the engine.
 *
 * The store runs on SQLite (the default: one file, one writer) or on
 * PostgreSQL (several servers sharing one database). Everything above this
 * header (the store's table functions, the writer, migrations) talks to a
 * `struct db` and its statements through these calls; each engine is a
 * driver behind them (db_sqlite.c, db_pg.c). SQL is written once with `?`
 * or `?N` parameters (numbered from 1) and given as is to SQLite; the
 * PostgreSQL driver turns them into `$N`. Where the dialects differ, the
 * caller picks its text with db_kind().
 *
 * Statements come from store_prepare (store.h): prepared once per connection
 * and kept, keyed by their text. A statement is used by one thread at a time,
 * like its connection.
 *
 * Results. db_step returns DB_ROW (a row is ready for the column calls),
 * DB_DONE (no more rows; a statement without results ran) or another value:
 * the statement failed, and the connection holds the engine's error until
 * the next call on it; store_fail (store.h) turns it into a status.
 */
#ifndef BBB_DB_H
#define BBB_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include <beebeebrain/status.h>

struct db;
struct db_stmt;

enum db_kind {
	DB_SQLITE = 1,
	DB_POSTGRES = 2,
};

/* The results besides an error; the same numbers as SQLite's. */
#define DB_OK 0
#define DB_ROW 100
#define DB_DONE 101

/* The engine a database target names (`serve --db`, BEEBEEBRAIN_DB): a libpq
 * connection URI (postgres://... or postgresql://...) or a keyword=value
 * connection string ("host=db1 dbname=bbb": the text up to its first '=' is
 * a lower-case word) is PostgreSQL; anything else is a SQLite file path (a
 * file whose name has such a '=' is written with a directory: ./a=b.db). */
enum db_kind db_target_kind(const char *target);
/* target as it may be logged or shown: a PostgreSQL connection string with
 * its password replaced by "***" (a URI's user:password@, a password=value
 * keyword); a file path as it is. Truncated to fit out (n > 0). */
void db_target_display(const char *target, char *out, size_t n);
enum db_kind db_kind(const struct db *db);
/* A statement's text in db's dialect: `sqlite`, or `pg` on PostgreSQL. */
#define DB_SQL(db, sqlite, pg) (db_kind(db) == DB_POSTGRES ? (pg) : (sqlite))
/* The SQLite handle of a SQLite connection, for what only SQLite has (the
 * backup API, checkpoints, hooks); NULL on any other engine. */
sqlite3 *db_sqlite(struct db *db);

/* Runs sql (statements without results, `;`-separated) to its end: DB_OK or
 * the error, left on the connection for store_fail. */
int db_exec(struct db *db, const char *sql);
/* 1 while a transaction is open on db, 0 in autocommit. */
int db_in_transaction(struct db *db);
/* Rows changed by the last INSERT, UPDATE or DELETE run on db. */
int64_t db_changes(struct db *db);
/* The rows a connection's statements touch, told to fn(arg, op, table, id)
 * as each is written: op DB_INSERT, DB_UPDATE or DB_DELETE (SQLite's codes),
 * id its integer key. SQLite tells every row (its update hook); PostgreSQL,
 * which has no such hook on the client's side, tells the rows inserted with
 * store_step_insert (every insert of the store's tables with an id), not
 * updates or deletes. One hook per connection: fn NULL removes it. */
#define DB_INSERT SQLITE_INSERT
#define DB_UPDATE SQLITE_UPDATE
#define DB_DELETE SQLITE_DELETE
typedef void (*db_row_fn)(void *arg, int op, const char *table, int64_t id);
void db_on_row(struct db *db, db_row_fn fn, void *arg);
/* The connection's last error, "" when none, and its code (the engine's;
 * DB_OK when none). */
const char *db_errmsg(struct db *db);
int db_errcode(struct db *db);
/* Closes db with its statements; NULL is a no-op. */
void db_close(struct db *db);

/* Parameters, numbered from 1. Text and blobs are bound three ways: as a
 * pointer the caller keeps valid until store_release (db_bind_text), as a
 * copy (_copy), or as malloc'd memory the statement frees (_owned, also on
 * failure). Each returns DB_OK or an error. */
int db_bind_i64(struct db_stmt *s, int idx, int64_t v);
int db_bind_double(struct db_stmt *s, int idx, double v);
int db_bind_null(struct db_stmt *s, int idx);
int db_bind_text(struct db_stmt *s, int idx, const char *text);
int db_bind_text_copy(struct db_stmt *s, int idx, const char *text);
int db_bind_text_owned(struct db_stmt *s, int idx, char *text);
int db_bind_blob(struct db_stmt *s, int idx, const void *p, size_t n);
int db_bind_blob_owned(struct db_stmt *s, int idx, void *p, size_t n);

/* Runs the statement, or moves to its next row. */
int db_step(struct db_stmt *s);

/* Columns of the current row, numbered from 0. A NULL reads as 0, as a NULL
 * text pointer and as an empty blob. Text pointers stay valid until the next
 * step or the release of the statement. */
int64_t db_col_i64(struct db_stmt *s, int col);
int db_col_int(struct db_stmt *s, int col);
double db_col_double(struct db_stmt *s, int col);
const char *db_col_text(struct db_stmt *s, int col);
const void *db_col_blob(struct db_stmt *s, int col);
size_t db_col_bytes(struct db_stmt *s, int col);
int db_col_is_null(struct db_stmt *s, int col);

/* The connection a statement belongs to. */
struct db *db_stmt_db(const struct db_stmt *s);

#endif
