/*
 * The SQLite store: connections and the single writer.
 *
 * One database file, in WAL mode. Reads run on a connection owned by the
 * calling thread (one per RPC worker, store_reader_open), so they never wait
 * for writes. Every write is a function submitted to the writer thread
 * (store_write): the writer owns the only write connection, takes all queued
 * writes, runs them in one BEGIN IMMEDIATE transaction, each inside its own
 * savepoint (a failing write rolls back alone), and commits them together:
 * group commit, one fsync for many writes. store_write returns only after the
 * commit, so an acknowledged write is durable (with durability "full").
 *
 * After every group whose commit wrote events the commit hook is called on
 * the writer thread with the highest event id committed (the event publisher
 * uses it to know what to read and send), after the group's callers have been
 * woken: their answers do not wait for it.
 *
 * What a caller is told is exactly what happened. After SQLITE_FULL, an I/O
 * error, SQLITE_NOMEM or a ROLLBACK conflict clause SQLite may roll the whole
 * transaction back on its own, not just the failing statement. The writer
 * notices (sqlite3_get_autocommit) after each write: the write that lost the
 * transaction fails with its own error, the writes before it in the group,
 * rolled back with it, fail too (store_fail's reason for the cause when it is
 * about the database itself, DISK_FULL, DB_READ_ONLY, ..., else
 * INTERNAL_ERROR), and the writes after it, not yet run, run in a fresh
 * transaction. A write reported OK is committed; a write reported failed left
 * nothing behind.
 */
#ifndef BBB_STORE_H
#define BBB_STORE_H

#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <beebeebrain/status.h>

#include "store/db.h"

struct store;
struct job_thread;

struct store_options {
	const char *path;
	int durability_full; /* 1: synchronous=FULL (default); 0: NORMAL */
	int busy_timeout_ms; /* 0: 5000 */
};

/* Opens a connection to `path`, a SQLite file or a PostgreSQL connection
 * string (db_target_kind). On SQLite: the house pragmas (WAL, busy_timeout,
 * foreign keys, synchronous). `readonly` opens it read-only. On PostgreSQL:
 * store_pg_open, a read-only session when `readonly`, synchronous_commit off
 * when not durability_full. The connection knows two SQL
 * functions of ours, for counts and money that must stay exact integers:
 * sat_add(a, b) (a + b held at the int64 bounds instead of turning into a
 * REAL) and the aggregate sat_sum(x) (sum held at the bounds instead of
 * failing the query; 0 over no rows). */
int store_conn_open(const char *path, int readonly, int durability_full, int busy_timeout_ms, struct db **out,
		    bbb_status *st);
/* Opens a write transaction holding the write lock: BEGIN IMMEDIATE on
 * SQLite, BEGIN and the writers' advisory lock on PostgreSQL (one round
 * trip). A lock held elsewhere past the busy timeout (lock_timeout) is
 * UNAVAILABLE DB_LOCKED. */
int store_begin_write(struct db *db, bbb_status *st);
/* 0 when `target` is a SQLite file; else FAILED_PRECONDITION
 * DB_ENGINE_UNSUPPORTED saying that `what` (backup, restore) copies files and
 * PostgreSQL has its own tools. */
int store_file_only(const char *target, const char *what, bbb_status *st);
/* store_conn_open for a SQLite file (db_sqlite.c); store_conn_open picks it,
 * or store_pg_open, by db_target_kind(path). */
int store_sqlite_open(const char *path, int readonly, int durability_full, int busy_timeout_ms, struct db **out,
		      bbb_status *st);
/* Opens a connection to a PostgreSQL database (db_pg.c): conninfo is any
 * libpq connection string or URI ("host=db dbname=bbb", "postgres://u@db/bbb";
 * "" takes everything from the PG* environment variables). The session is
 * set up for the store: UTC, UTF8, a 5 s lock_timeout (DB_LOCKED, like
 * SQLite's busy timeout); a 10 s connect timeout and TCP keepalives unless
 * the string sets them. A lost session is replaced by the driver between
 * transactions (db_pg.c). UNAVAILABLE DB_UNAVAILABLE with libpq's reason when
 * the server cannot be reached or refuses the login. Close with
 * store_conn_close. */
int store_pg_open(const char *conninfo, struct db **out, bbb_status *st);
/* store_pg_open without a session yet: the first call starts it (and fails
 * with DB_UNAVAILABLE if it cannot, the next attempt a second later), running
 * what store_pg_configure kept first. For the read connections of workers,
 * most of which may never be used. Close with store_conn_close. */
struct db *store_pg_open_deferred(const char *conninfo);
/* 1 while db is a PostgreSQL connection without a session whose last attempt
 * at one failed, and the next attempt is not due yet: every call fails at
 * once with DB_UNAVAILABLE until then. 0 otherwise, and on SQLite. */
int store_pg_failing(struct db *db);
/* Runs `sql` (SET statements) on a PostgreSQL connection and keeps it: a new
 * session started after the connection was lost runs it again. 0, or -1
 * with *st. */
int store_pg_configure(struct db *db, const char *sql, bbb_status *st);
/* On a PostgreSQL connection that ran LISTEN: waits until a notification
 * arrives (1, every one pending consumed), timeout_ms pass or wake_fd (-1:
 * none) is readable (0). -1 with DB_UNAVAILABLE when the session is gone. */
int store_pg_wait_notify(struct db *db, int wake_fd, int timeout_ms, bbb_status *st);
/* What serve checks before it touches the schema, on a read-write connection
 * to `path`: that SQLite did not have to open the file read-only
 * (FAILED_PRECONDITION DB_READ_ONLY) and that `PRAGMA quick_check` finds the
 * file sound (FAILED_PRECONDITION DB_CORRUPT, naming the first problem and
 * pointing to `beebeebrain restore`). quick_check reads every page: about a
 * second per 100 MB from the page cache (docs/decisions.md). */
int store_check_usable(struct db *db, const char *path, bbb_status *st);
/* Finalizes every statement still prepared on db (its statement cache too),
 * then closes it. */
void store_conn_close(struct db *db);

/* Opens the write connection and starts the writer thread. The schema must be
 * migrated already. */
int store_open(struct store **out, const struct store_options *opts, bbb_status *st);
/* Runs every queued write, stops the writer and closes the connection. */
void store_close(struct store *s);
const char *store_path(const struct store *s);

/* A new read connection for the calling thread; close with store_conn_close. */
int store_reader_open(struct store *s, struct db **out, bbb_status *st);
/* The same for a worker thread, which may stay idle: on PostgreSQL its
 * session starts at its first statement (store_pg_open_deferred), so a
 * server's idle workers hold no backend; store_pg_failing tells when it
 * could not. */
int store_worker_reader_open(struct store *s, struct db **out, bbb_status *st);
/* A new read-write connection for the calling thread, outside the writer:
 * each statement is its own transaction (autocommit), committed with the
 * store's durability, without waiting for a group or taking the writer's
 * lock. For the few writes that must be seen by other servers at once and
 * that no other write depends on (PostgreSQL's claims of request ids,
 * store/reply_store.h); everything else goes through store_write. Close with
 * store_conn_close. */
int store_session_open(struct store *s, struct db **out, bbb_status *st);

/* A write: runs on the writer thread inside a savepoint of the group's
 * transaction. Returns 0, or -1 with *st set (its changes are rolled back).
 * It must not end the transaction (COMMIT, ROLLBACK, RELEASE of a savepoint
 * it did not open): only the writer commits, and a COMMIT from inside a write
 * is refused by SQLite's commit hook, which rolls the group back. */
typedef int (*store_write_fn)(struct db *db, void *arg, bbb_status *st);

/* Outcome of store_savepoint. */
enum store_sp_result {
	STORE_SP_OK = 0, /* fn succeeded; its changes are part of the transaction */
	STORE_SP_FAILED = -1, /* fn failed; its changes are undone, the transaction goes on */
	STORE_SP_TX_LOST = -2, /* the whole transaction is rolled back: nothing since BEGIN will commit */
};

/* Runs fn(db, arg, st) inside `SAVEPOINT name` of the transaction open on db
 * (there must be one). Every savepoint statement's result is checked: when
 * SQLite rolled the transaction back on its own during fn (whatever fn
 * returned), or fn's changes cannot be undone alone (ROLLBACK TO or RELEASE
 * failed), the transaction is rolled back entirely and STORE_SP_TX_LOST is
 * returned; the caller must then treat everything it did since BEGIN as not
 * done. *st holds fn's error, or the cause of the loss when fn returned 0. */
enum store_sp_result store_savepoint(struct db *db, const char *name, store_write_fn fn, void *arg, bbb_status *st);

/* Runs fn on the writer and waits for the group's commit. A write whose
 * deadline (CLOCK_MONOTONIC ms, 0 = none) passed before it started is not run
 * (DEADLINE_EXCEEDED); one that started is always committed and reported.
 * UNAVAILABLE DB_LOCKED when the write lock could not be had in time. */
int store_write(struct store *s, store_write_fn fn, void *arg, int64_t deadline_ms, bbb_status *st);

/* The bytes a WAL file keeps once SQLite starts it over (journal_size_limit
 * of every read-write connection). A reader that holds a snapshot for long
 * lets the WAL grow past any bound while it does; without the limit the
 * file would keep that size until the server stops. Above what the WAL
 * reaches between two resets under load (about 2,000 frames of 4 KiB). */
#define STORE_WAL_SIZE_LIMIT ((long long)16 << 20)

/* Hands the WAL's checkpoints to a job on jt, with a connection of its own
 * (checkpoint.h), so that the writer seldom runs one; jt must outlive it or
 * a later call. NULL: the writer checkpoints again (the default). */
int store_checkpoint_on(struct store *s, struct job_thread *jt, bbb_status *st);

/* Called on the writer thread, after the callers of a group that committed
 * a new event were woken. store_set_commit_hook may be called at any time
 * (not from the hook): it returns once a call of the previous hook that was
 * under way has returned, so what that hook used may be freed then. Setting
 * the same hook again is a barrier: no call that read state changed before
 * it (say a pointer set to NULL) is still running. */
typedef void (*store_commit_hook)(void *arg, int64_t last_event_id);
void store_set_commit_hook(struct store *s, store_commit_hook hook, void *arg);

/*
 * Lock health: when write groups failed to get SQLite's write lock (another
 * connection held it past the busy timeout), the next group that does get it
 * first calls the hook with STORE_LOCK_FAILED and the number of failed
 * groups; once no failure was seen for `quiet_ms`, a later group calls it
 * with STORE_LOCK_RECOVERED. The hook runs on the writer thread inside that
 * group's transaction (in a savepoint of its own), so what it writes (the
 * DB_LOCKED alert) commits with the group. Set it before the first write.
 */
enum store_lock_event { STORE_LOCK_FAILED, STORE_LOCK_RECOVERED };
typedef int (*store_lock_hook)(void *arg, struct db *db, enum store_lock_event ev, unsigned failures);
void store_set_lock_hook(struct store *s, store_lock_hook hook, void *arg, int64_t quiet_ms);

/* Counters for tests and benchmarks. */
struct store_stats {
	uint64_t ss_writes; /* writes run in transactions that committed */
	uint64_t ss_commits; /* transactions committed */
	uint64_t ss_queued; /* writes waiting for the writer right now */
	uint64_t ss_lock_failures; /* groups refused for SQLite's write lock */
	int64_t ss_last_commit_ms; /* wall ms of the latest commit; 0: none since the store opened */
};
void store_get_stats(struct store *s, struct store_stats *out);

/* A read snapshot on a reader connection: what is read between begin and end
 * comes from one state of the database. A BEGIN that fails leaves plain
 * autocommit reads (each statement its own snapshot). */
void store_snapshot_begin(struct db *db);
void store_snapshot_end(struct db *db);

/* Maps a failed SQLite call on db to a status: BUSY/LOCKED -> DB_LOCKED,
 * FULL (or an I/O error with ENOSPC/EDQUOT) -> RESOURCE_EXHAUSTED DISK_FULL,
 * READONLY (or an I/O error with EROFS/EACCES/EPERM) -> FAILED_PRECONDITION
 * DB_READ_ONLY, CORRUPT/NOTADB -> FAILED_PRECONDITION DB_CORRUPT, a UNIQUE
 * constraint -> RESOURCE_CONFLICT, anything else -> INTERNAL_ERROR. `what`
 * names the operation. Returns -1. */
int store_fail(bbb_status *st, struct db *db, int rc, const char *what);

/*
 * Statements. store_prepare gives a statement for sql, ready to bind and
 * step, or fails with store_fail. On a connection from store_conn_open it is
 * prepared once per connection and kept, keyed by its text: the second call
 * with the same text gets the same statement back, without parsing. The
 * caller owns it until store_release, which resets it, clears its bindings
 * (bound values must stay valid until then) and gives it back; never
 * sqlite3_finalize it. A text already lent out and not released (nested use)
 * gets a statement of its own. sql should come from a small fixed set
 * (literals, or a choice among them); SQL built at run time goes through
 * store_prepare_once, so the cache does not fill with texts seen once.
 */
int store_prepare(struct db *db, const char *sql, struct db_stmt **stmt, bbb_status *st);
/* A statement of its own for sql, never cached; store_release finalizes it. */
int store_prepare_once(struct db *db, const char *sql, struct db_stmt **stmt, bbb_status *st);
/* Gives back a statement from store_prepare or store_prepare_once. A
 * statement whose last step failed is finalized, not kept. The connection's
 * error (sqlite3_errcode, for store_fail) is the last step's afterwards, as
 * after sqlite3_finalize. NULL is a no-op. */
void store_release(struct db_stmt *stmt);
/* Text column as an arena string ("" for NULL). */
struct arena;
char *store_col_text(struct arena *a, struct db_stmt *stmt, int col);
/*
 * Pages are capped by bytes as well as by count. A reply carries a page of
 * rows, and rows can be big (a task description, a log line, an event's
 * data): every list stops once the encoded size of its rows would pass
 * STORE_PAGE_BYTES, reports that more rows follow, and the caller continues
 * after the last row it got (page token, Replay's after_id). The budget
 * leaves 64 KiB of the 4 MiB a message may have for the rest of the reply
 * and its RpcResponse envelope. The first row of a page is always taken,
 * whatever its size, so that paging always moves on: a page is larger than
 * the budget only when it is that one row.
 */
#define STORE_PAGE_BYTES ((size_t)4 * 1024 * 1024 - (size_t)64 * 1024)

/* A page being filled: rows so far and their encoded size. */
struct store_page {
	size_t pg_rows;
	size_t pg_bytes;
};
/* Counts `row` (a protobuf-c message) into the page, at the size it will
 * have in the reply (text that is not UTF-8 is repaired on the way out, and
 * grows): 1 when it fits, or when it is the page's first row; 0 when the
 * page is full (row not counted, and it must not be returned). */
int store_page_add(struct store_page *pg, const ProtobufCMessage *row);

/* Turns the current row of a statement into a message from the arena. */
typedef void *(*store_row_fn)(struct db_stmt *stmt, struct arena *a);
/* Steps a prepared, bound statement whose LIMIT is limit + 1: *out gets up
 * to `limit` rows (an arena array) and at most one page of bytes
 * (store_page_add); *more whether rows were left out. Releases stmt
 * (store_release). `what`
 * names the query in errors. */
int store_collect(struct db *db, struct db_stmt *stmt, int limit, store_row_fn row, struct arena *a, void ***out,
		  size_t *n, int *more, const char *what, bbb_status *st);
/* Reads the row of `id` with sql (one parameter, the id): 0 and *out, else
 * not_found_reason with "<noun> <id> does not exist". */
int store_get_by_id(struct db *db, const char *sql, int64_t id, store_row_fn row, struct arena *a, void **out,
		    const char *not_found_reason, const char *noun, bbb_status *st);
/* Binds text, or NULL when `s` is NULL or empty. */
int store_bind_text_or_null(struct db_stmt *stmt, int idx, const char *s);
/* Binds an integer, or NULL when v == 0. */
int store_bind_id_or_null(struct db_stmt *stmt, int idx, int64_t v);
/* Steps a bound INSERT of one row whose text ends with `RETURNING id` (both
 * engines take it): DB_DONE with the new row's id in *id, or the step's error
 * (*id untouched). The store's inserts read their ids so: on PostgreSQL
 * asking for the id afterwards (lastval()) would cost a round trip more. */
int store_step_insert(struct db_stmt *stmt, int64_t *id);
/* Binds free text (a description, prompt, message, note, output or input),
 * redacted (common/redact.h): every column of free text is bound through
 * this, so no secret reaches the database file. Names, keys and codes are not
 * free text: they are looked up by value and stored as given. */
int store_bind_free_text(struct db_stmt *stmt, int idx, const char *s);

#endif
