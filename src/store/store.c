/*
 * Connections and the writer thread (group commit). See store.h for the
 * design. Queue discipline: callers append a stack-allocated job and sleep on
 * its own condition variable; the writer takes the whole queue at once, runs
 * it as one transaction, wakes exactly the callers of the group when it has
 * committed, and only then tells the commit hook (publishing, pokes): a
 * caller's answer does not wait for them.
 *
 * When SQLite rolls a group's transaction back on its own in the middle of
 * the group, store_run_group stops there and hands back the jobs it has not
 * run; the writer runs them as a new group before it wakes anybody. Only the
 * writer's own COMMIT may commit: the commit hook (store_commit_gate) refuses
 * any other, so a write cannot commit half a group behind the writer's back.
 */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pbtext.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/checkpoint.h"
#include "store/db_driver.h"
#include "store/stmt_cache.h"
#include "store/store_metrics.h"

#define STORE_GROUP_MAX 256
/* The WAL's checkpoints (checkpoint.h). Past STORE_CHECKPOINT_FRAMES frames
 * (SQLite's own auto-checkpoint threshold) the checkpointer, when there is
 * one, is asked for a pass, again every STORE_CHECKPOINT_STEP frames more;
 * without one the writer runs the pass, as SQLite would. Past
 * STORE_CHECKPOINT_FRAMES_WRITER the writer runs a pass itself, after its
 * commit: SQLite starts the WAL over only after a pass that left nothing
 * behind, which a pass on another thread rarely manages while the writer
 * keeps committing; the checkpointer has copied most frames by then, so the
 * writer's pass has little left to copy. */
#define STORE_CHECKPOINT_FRAMES 1000
#define STORE_CHECKPOINT_STEP 500
#define STORE_CHECKPOINT_FRAMES_WRITER 2000

struct store_job {
	store_write_fn j_fn;
	void *j_arg;
	int64_t j_deadline;
	bbb_status *j_st;
	int j_rc;
	int j_committed; /* set by the writer when the transaction holding it committed */
	int j_done;
	pthread_cond_t j_cv; /* the caller waits on it, under s_mu, for j_done */
	struct store_job *j_next;
};

struct store {
	char *s_path;
	struct db *s_db;
	int s_durability_full;
	int s_busy_timeout_ms;
	pthread_t s_thread;
	pthread_mutex_t s_mu;
	pthread_cond_t s_work; /* writer waits for jobs */
	struct store_job *s_head, *s_tail;
	int s_stopping;
	int s_committing; /* writer thread only: its COMMIT is under way */
	store_commit_hook s_hook;
	void *s_hook_arg;
	int s_hook_running; /* under s_mu: calls of s_hook under way (made outside s_mu) */
	pthread_cond_t s_hook_cv; /* broadcast when such a call returns */
	store_lock_hook s_lock_hook;
	void *s_lock_hook_arg;
	int64_t s_lock_quiet_ms;
	unsigned s_lock_failures; /* failed groups not yet reported to the hook */
	int s_lock_reported; /* a failure was reported, recovery not yet */
	int64_t s_last_lock_failure; /* CLOCK_MONOTONIC ms */
	int64_t s_last_event_id;
	struct store_stats s_stats;
	struct store_writer_metrics s_metrics;
	struct checkpointer *s_ckpt; /* under s_mu; NULL: the writer checkpoints */
	int s_ckpt_kicked_at; /* writer thread only: WAL frames at the last kick */
	/* PostgreSQL: the thread that hears other servers' commits (LISTEN),
	 * and the eventfd that wakes it to stop. */
	pthread_t s_listener;
	int s_listening;
	int s_wake_fd;
};

/* The channel every writer on a PostgreSQL database notifies at each
 * commit (docs/scale-out.md). */
#define STORE_PG_CHANNEL "bbb_events"

/* A PostgreSQL connection with the store's settings, set in one round trip:
 * the busy timeout is lock_timeout (how long a write waits for the writers'
 * lock or a row lock before it is DB_LOCKED), a read connection refuses
 * writes (as SQLite's read-only ones do), and durability normal is
 * synchronous_commit off: a commit is answered before its WAL is flushed, so
 * a crash of the database server may lose the last commits, never corrupt
 * them (the same promise as SQLite's synchronous=NORMAL). `deferred`: the
 * session starts at the connection's first call (store_pg_open_deferred). */
static int store_pg_conn_open(const char *conninfo, int readonly, int durability_full, int busy_timeout_ms,
			      int deferred, struct db **out, bbb_status *st)
{
	char set[160];

	if (deferred)
		*out = store_pg_open_deferred(conninfo);
	else if (store_pg_open(conninfo, out, st) != 0)
		return -1;
	snprintf(set, sizeof(set), "SET lock_timeout = %d%s%s", busy_timeout_ms > 0 ? busy_timeout_ms : 5000,
		 readonly ? "; SET default_transaction_read_only = on" : "",
		 durability_full ? "" : "; SET synchronous_commit = off");
	if (store_pg_configure(*out, set, st) != 0) {
		store_conn_close(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int store_file_only(const char *target, const char *what, bbb_status *st)
{
	if (db_target_kind(target) == DB_SQLITE)
		return 0;
	return status_fail(st, "DB_ENGINE_UNSUPPORTED",
			   "%s copies a SQLite file; this server's database is PostgreSQL: back it up with `pg_dump "
			   "-Fc` and restore it with `pg_restore` (docs/runbook.md)",
			   what);
}

int store_conn_open(const char *target, int readonly, int durability_full, int busy_timeout_ms, struct db **out,
		    bbb_status *st)
{
	if (db_target_kind(target) == DB_POSTGRES)
		return store_pg_conn_open(target, readonly, durability_full, busy_timeout_ms, 0, out, st);
	return store_sqlite_open(target, readonly, durability_full, busy_timeout_ms, out, st);
}

void store_snapshot_begin(struct db *db)
{
	db_exec(db, "BEGIN");
}

void store_snapshot_end(struct db *db)
{
	if (db_in_transaction(db))
		db_exec(db, "COMMIT");
}

char *store_col_text(struct arena *a, struct db_stmt *stmt, int col)
{
	const char *t = db_col_text(stmt, col);

	if (t == NULL)
		return arena_strdup(a, "");
	return arena_strndup(a, t, db_col_bytes(stmt, col));
}

/* Bytes of a length-delimited field holding n bytes: tag, length, body. */
static size_t store_field_bytes(size_t n)
{
	size_t len = 1;

	for (size_t v = n; v >= 0x80; v >>= 7)
		len++;
	return 1 + len + n; /* the repeated fields of replies have one-byte tags */
}

/* The size row will have in a reply: replies carry text repaired to UTF-8
 * (common/pbtext.h), and a repaired byte takes three. */
static size_t store_row_size(const ProtobufCMessage *row)
{
	struct arena a;
	size_t n;

	if (pbtext_valid(row))
		return protobuf_c_message_get_packed_size(row);
	arena_init(&a);
	n = protobuf_c_message_get_packed_size(pbtext_repair_copy(row, &a));
	arena_reset(&a);
	return n;
}

int store_page_add(struct store_page *pg, const ProtobufCMessage *row)
{
	size_t bytes = store_field_bytes(store_row_size(row));

	if (pg->pg_rows > 0 && pg->pg_bytes + bytes > STORE_PAGE_BYTES)
		return 0;
	pg->pg_rows++;
	pg->pg_bytes += bytes;
	return 1;
}

int store_collect(struct db *db, struct db_stmt *stmt, int limit, store_row_fn row, struct arena *a, void ***out,
		  size_t *n, int *more, const char *what, bbb_status *st)
{
	struct store_page pg = {0};
	int rc;

	*out = arena_alloc(a, sizeof(void *) * (size_t)(limit > 0 ? limit : 1));
	*n = 0;
	*more = 0;
	while ((rc = db_step(stmt)) == DB_ROW) {
		void *r;
		if ((int)*n == limit) {
			*more = 1;
			break;
		}
		r = row(stmt, a);
		if (!store_page_add(&pg, r)) {
			*more = 1;
			break;
		}
		(*out)[(*n)++] = r;
	}
	store_release(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return store_fail(st, db, rc, what);
	return 0;
}

int store_get_by_id(struct db *db, const char *sql, int64_t id, store_row_fn row, struct arena *a, void **out,
		    const char *not_found_reason, const char *noun, bbb_status *st)
{
	struct db_stmt *stmt;
	int rc;

	if (store_prepare(db, sql, &stmt, st) != 0)
		return -1;
	db_bind_i64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = row(stmt, a);
	store_release(stmt);
	if (rc == DB_ROW)
		return 0;
	if (rc == DB_DONE)
		return status_fail(st, not_found_reason, "%s %lld does not exist", noun, (long long)id);
	return store_fail(st, db, rc, noun);
}

int store_bind_text_or_null(struct db_stmt *stmt, int idx, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return db_bind_null(stmt, idx);
	return db_bind_text_copy(stmt, idx, s);
}

int store_bind_id_or_null(struct db_stmt *stmt, int idx, int64_t v)
{
	if (v == 0)
		return db_bind_null(stmt, idx);
	return db_bind_i64(stmt, idx, v);
}

int store_step_insert(struct db_stmt *stmt, int64_t *id)
{
	int rc = db_step(stmt);
	int64_t got;

	if (rc != DB_ROW)
		return rc == DB_DONE ? SQLITE_ERROR : rc; /* no row: not an INSERT ... RETURNING id */
	got = db_col_i64(stmt, 0);
	/* SQLite made the change at the first step; the second ends the run. */
	if ((rc = db_step(stmt)) == DB_DONE) {
		*id = got;
		db_row_inserted(stmt, got);
	}
	return rc;
}

/* Runs one statement of the writer's own (BEGIN, COMMIT, SAVEPOINT w ...)
 * from the connection's statement cache: these run around every write, and
 * parsing them each time cost about 5% of the writer. Returns SQLite's result
 * code, SQLITE_OK when the statement ran to its end; the error, if any, stays
 * on the connection for store_fail. */
static int store_run(struct db *db, const char *sql)
{
	struct db_stmt *stmt;
	bbb_status ignored;
	int rc;

	status_clear(&ignored);
	if (store_prepare(db, sql, &stmt, &ignored) != 0)
		return db_errcode(db) != DB_OK ? db_errcode(db) : SQLITE_ERROR;
	rc = db_step(stmt);
	store_release(stmt);
	return rc == DB_DONE || rc == DB_ROW ? SQLITE_OK : rc;
}

static int store_exec(struct db *db, const char *sql, bbb_status *st)
{
	int rc = store_run(db, sql);

	if (rc != SQLITE_OK)
		return store_fail(st, db, rc, sql);
	return 0;
}

/* store_exec for text of several statements, which a prepared statement
 * cannot hold: sent as one, so on PostgreSQL they cost one round trip. */
static int store_exec_batch(struct db *db, const char *sql, bbb_status *st)
{
	int rc = db_exec(db, sql);

	if (rc != DB_OK)
		return store_fail(st, db, rc, sql);
	return 0;
}

static int store_corrupt(bbb_status *st, const char *path, const char *what)
{
	return status_fail(st, "DB_CORRUPT",
			   "database %s is corrupt (%.300s); the server did not open it. Restore a good backup with "
			   "`beebeebrain restore FILE --db %s` (backups are named %s.<YYYYmmdd-HHMMSS>.bak)",
			   path, what, path, path);
}

int store_check_usable(struct db *db, const char *path, bbb_status *st)
{
	struct db_stmt *stmt = NULL;
	char first[400] = "";
	int rc, problems = 0;

	bbb_status ignored;

	if (db_sqlite(db) == NULL)
		return 0; /* a file check: PostgreSQL checks its own */
	/* SQLite quietly opens a file it may not write read-only. */
	if (sqlite3_db_readonly(db_sqlite(db), "main") == 1)
		return status_fail(st, "DB_READ_ONLY",
				   "database %s is read-only (no write permission on the file, or a read-only file "
				   "system); the server needs to write it",
				   path);
	status_clear(&ignored);
	rc = store_prepare_once(db, "PRAGMA quick_check", &stmt, &ignored) == 0 ? DB_ROW : db_errcode(db);
	/* One row "ok", or one row per problem found. */
	while (stmt != NULL && (rc = db_step(stmt)) == DB_ROW) {
		const char *row = db_col_text(stmt, 0);

		if (row != NULL && strcmp(row, "ok") == 0)
			continue;
		if (problems++ == 0)
			snprintf(first, sizeof(first), "PRAGMA quick_check: %s", row != NULL ? row : "?");
	}
	if (rc != DB_DONE && problems == 0) {
		/* A file too damaged to check fails the check itself. */
		snprintf(first, sizeof(first), "%s", db_errmsg(db));
		store_fail(st, db, rc, "PRAGMA quick_check");
		store_release(stmt);
		return strcmp(st->reason, "DB_CORRUPT") == 0 ? store_corrupt(st, path, first) : -1;
	}
	store_release(stmt);
	return problems == 0 ? 0 : store_corrupt(st, path, first);
}

/* The text of `SAVEPOINT name` and friends. */
static void store_sp_sql(char *buf, size_t n, const char *verb, const char *name)
{
	int len = snprintf(buf, n, "%s %s", verb, name);

	assert(len > 0 && (size_t)len < n);
	(void)len;
}

/* Ends a transaction that cannot go on; afterwards there is none. */
static void store_rollback_all(struct db *db)
{
	if (db_in_transaction(db) && db_exec(db, "ROLLBACK") != SQLITE_OK)
		log_error("store", "ROLLBACK failed: %s", db_errmsg(db));
	assert(!db_in_transaction(db));
}

enum store_sp_result store_savepoint(struct db *db, const char *name, store_write_fn fn, void *arg, bbb_status *st)
{
	char sql[64];
	bbb_status undo;
	int rc;

	assert(db_in_transaction(db)); /* a savepoint outside a transaction would begin one */
	store_sp_sql(sql, sizeof(sql), "SAVEPOINT", name);
	if ((rc = store_run(db, sql)) != SQLITE_OK) {
		store_fail(st, db, rc, sql);
		if (db_in_transaction(db))
			return STORE_SP_FAILED; /* nothing of fn ran, the transaction is intact */
		return STORE_SP_TX_LOST;
	}
	rc = fn(db, arg, st);
	if (!db_in_transaction(db)) {
		/* SQLite rolled everything back (or fn ended the transaction). A
		 * write that did not notice still has the cause on the connection. */
		if (rc == 0 && db_errcode(db) != DB_OK)
			store_fail(st, db, db_errcode(db), "write rolled back");
		else if (rc == 0)
			status_fail(st, "INTERNAL_ERROR", "the transaction ended inside a write; not applied");
		return STORE_SP_TX_LOST;
	}
	status_clear(&undo);
	if (rc != 0) {
		store_sp_sql(sql, sizeof(sql), "ROLLBACK TO", name);
		if ((rc = store_run(db, sql)) != SQLITE_OK) {
			store_fail(&undo, db, rc, sql);
			log_error("store", "cannot undo a failed write: %s", undo.message);
			store_rollback_all(db);
			return STORE_SP_TX_LOST;
		}
		rc = -1;
	}
	store_sp_sql(sql, sizeof(sql), "RELEASE", name);
	if (store_run(db, sql) != SQLITE_OK) {
		/* The savepoint is not ours any more (fn released it): fn's changes
		 * can no longer be told apart from the rest. */
		store_fail(&undo, db, SQLITE_ERROR, sql);
		log_error("store", "savepoint %s: %s", name, undo.message);
		if (rc == 0)
			*st = undo;
		store_rollback_all(db);
		return STORE_SP_TX_LOST;
	}
	assert(db_in_transaction(db));
	return rc == 0 ? STORE_SP_OK : STORE_SP_FAILED;
}

/* sqlite3_commit_hook of the write connection: only the writer's own COMMIT
 * goes through; any other (a write that ran COMMIT, or RELEASE of a savepoint
 * that began a transaction after SQLite had rolled the group back) becomes a
 * rollback, which the writer then sees. */
static int store_commit_gate(void *arg)
{
	const struct store *s = arg;

	return s->s_committing ? 0 : 1;
}

static int64_t store_max_event_id(struct db *db)
{
	struct db_stmt *stmt;
	int64_t id = 0;

	bbb_status st;

	status_clear(&st);
	/* SQLite: the AUTOINCREMENT counter (a row, not a scan); PostgreSQL: the
	 * highest id this connection can see (the primary key's last entry). */
	if (store_prepare(db,
			  db_kind(db) == DB_POSTGRES ? "SELECT coalesce(max(id), 0) FROM events"
						     : "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
			  &stmt, &st) != 0)
		return 0;
	if (db_step(stmt) == DB_ROW)
		id = db_col_i64(stmt, 0);
	store_release(stmt);
	return id;
}

struct store_lock_report {
	struct store *lr_store;
	enum store_lock_event lr_event;
};

static int store_lock_report_write(struct db *db, void *arg, bbb_status *st)
{
	struct store_lock_report *lr = arg;
	struct store *s = lr->lr_store;

	if (s->s_lock_hook(s->s_lock_hook_arg, db, lr->lr_event, s->s_lock_failures) != 0)
		return status_fail(st, "INTERNAL_ERROR", "the lock hook failed");
	return 0;
}

/* Tells the lock hook about failures since the last group, or recovery.
 * When its savepoint lost the transaction the report stays due for the next
 * group; the result is store_savepoint's. */
static enum store_sp_result store_report_lock_health(struct store *s)
{
	struct store_lock_report lr = {.lr_store = s};
	enum store_sp_result rc;
	bbb_status st;

	if (s->s_lock_hook == NULL)
		return STORE_SP_OK;
	if (s->s_lock_failures > 0)
		lr.lr_event = STORE_LOCK_FAILED;
	else if (s->s_lock_reported && clock_mono_ms() - s->s_last_lock_failure >= s->s_lock_quiet_ms)
		lr.lr_event = STORE_LOCK_RECOVERED;
	else
		return STORE_SP_OK;
	status_clear(&st);
	rc = store_savepoint(s->s_db, "h", store_lock_report_write, &lr, &st);
	if (rc == STORE_SP_TX_LOST) {
		log_warn("store", "lock health report rolled back: %s %s", st.reason, st.message);
		return rc;
	}
	s->s_lock_reported = lr.lr_event == STORE_LOCK_FAILED;
	s->s_lock_failures = 0;
	return rc;
}

/* Gives every job of [from, to) that has not failed on its own the status
 * `why` (its work is not in the database). */
static void store_fail_jobs(struct store_job *from, const struct store_job *to, const bbb_status *why)
{
	for (struct store_job *j = from; j != to; j = j->j_next) {
		assert(j != NULL);
		if (j->j_rc == 0) {
			*j->j_st = *why;
			j->j_rc = -1;
		}
	}
}

/* What the jobs rolled back with the one that lost the transaction are told:
 * the cause when it is the database's state, which concerns every write
 * alike; INTERNAL_ERROR when it was that one write's own fault. */
static void store_victim_status(bbb_status *out, const bbb_status *cause)
{
	static const char *const shared[] = {"DISK_FULL", "DB_READ_ONLY", "DB_LOCKED", "DB_CORRUPT"};
	const char *reason = "INTERNAL_ERROR";

	for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++)
		if (strcmp(cause->reason, shared[i]) == 0)
			reason = shared[i];
	status_clear(out);
	status_fail(out, reason,
		    "not applied: SQLite rolled back the transaction this write shared with others (%s: %.400s)",
		    cause->reason, cause->message);
}

/* The advisory lock every write transaction takes first on PostgreSQL (any
 * fixed key of ours). Several servers write one database there, and events
 * get their ids from one sequence as they are inserted: were two
 * transactions to interleave, the one holding the larger id could commit
 * first, and a reader going by id would pass the smaller one for good. Under
 * this lock, held until COMMIT, transactions allocate ids in the order they
 * commit, so what any snapshot sees of `events` is a prefix of the final
 * order (docs/scale-out.md). SQLite's one writer gives the same for free. */
#define STORE_PG_BEGIN "BEGIN; SELECT pg_advisory_xact_lock(7062626202)"
/* Other servers on the database hear of a group at its commit. */
#define STORE_PG_NOTIFY_COMMIT "SELECT pg_notify('" STORE_PG_CHANNEL "', ''); COMMIT"

/* IMMEDIATE on SQLite: the write lock now, not at the first write (a
 * deferred one could fail half-way with BUSY); PostgreSQL takes the write
 * lock above, in the same round trip. */
int store_begin_write(struct db *db, bbb_status *st)
{
	return db_kind(db) == DB_SQLITE ? store_exec(db, "BEGIN IMMEDIATE", st)
					: store_exec_batch(db, STORE_PG_BEGIN, st);
}

/* BEGIN for the jobs from `group` on; on failure they all fail. */
static int store_begin(struct store *s, struct store_job *group)
{
	bbb_status why;

	assert(!db_in_transaction(s->s_db));
	status_clear(&why);
	if (store_begin_write(s->s_db, &why) == 0)
		return 0;
	if (db_in_transaction(s->s_db))
		db_exec(s->s_db, "ROLLBACK");
	log_warn("store", "write transaction refused: %s", why.message);
	if (strcmp(why.reason, "DB_LOCKED") == 0) {
		s->s_lock_failures++;
		s->s_last_lock_failure = clock_mono_ms();
	}
	store_fail_jobs(group, NULL, &why);
	return -1;
}

/* Counters of one pass of store_run_group. */
struct store_pass {
	int sp_run; /* write functions called */
	int sp_committed; /* 1 when the pass's transaction committed */
};

/*
 * Runs the jobs from `group` on in one transaction. Returns NULL when every
 * job has its outcome, or the first job not run because SQLite rolled the
 * transaction back under an earlier one: those get a pass of their own. The
 * job that lost the transaction and every job before it that had succeeded
 * are failed, since none of their work is in the database.
 */
static struct store_job *store_run_group(struct store *s, struct store_job *group, struct store_pass *pass)
{
	struct store_job *j, *lost = NULL;
	int64_t now = clock_mono_ms(), t0_ns = clock_mono_ns();
	bbb_status why;
	int rc;

	if (store_begin(s, group) != 0)
		return NULL;
	if (store_report_lock_health(s) == STORE_SP_TX_LOST && store_begin(s, group) != 0)
		return NULL;
	for (j = group; j != NULL; j = j->j_next) {
		assert(db_in_transaction(s->s_db));
		assert(j->j_rc == 0 && !j->j_committed); /* never run before */
		if (j->j_deadline != 0 && now > j->j_deadline) {
			j->j_rc = status_fail(j->j_st, "DEADLINE_EXCEEDED", "deadline passed before the write started");
			continue;
		}
		pass->sp_run++;
		rc = store_savepoint(s->s_db, "w", j->j_fn, j->j_arg, j->j_st);
		if (rc == STORE_SP_OK)
			continue;
		j->j_rc = -1;
		if (rc == STORE_SP_TX_LOST) {
			lost = j;
			break;
		}
	}
	if (lost != NULL) {
		assert(!db_in_transaction(s->s_db));
		log_warn("store", "SQLite rolled back a group of writes: %s %s", lost->j_st->reason,
			 lost->j_st->message);
		store_victim_status(&why, lost->j_st);
		store_fail_jobs(group, lost, &why);
		return lost->j_next;
	}
	status_clear(&why);
	s->s_committing = 1;
	/* On PostgreSQL the notify goes with the COMMIT, one round trip (a
	 * failed notify fails the group like any statement of it). */
	if (db_kind(s->s_db) == DB_POSTGRES && pass->sp_run > 0)
		rc = store_exec_batch(s->s_db, STORE_PG_NOTIFY_COMMIT, &why);
	else
		rc = store_exec(s->s_db, "COMMIT", &why);
	s->s_committing = 0;
	if (rc != 0) {
		/* SQLite rolls back on its own after most COMMIT errors, not after
		 * BUSY; either way nothing of the group is in the database. */
		log_error("store", "commit failed: %s", why.message);
		store_rollback_all(s->s_db);
		store_fail_jobs(group, NULL, &why);
		return NULL;
	}
	assert(!db_in_transaction(s->s_db));
	pass->sp_committed = 1;
	if (pass->sp_run > 0) {
		metrics_observe(s->s_metrics.wm_writes_per_commit, NULL, pass->sp_run);
		metrics_observe(s->s_metrics.wm_commit_seconds, NULL, (double)(clock_mono_ns() - t0_ns) / 1e9);
	}
	for (j = group; j != NULL; j = j->j_next)
		j->j_committed = j->j_rc == 0;
	return NULL;
}

/* sqlite3_wal_hook of the write connection, after each commit: it replaces
 * SQLite's auto-checkpoint on this connection (checkpoint.h). */
static int store_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *s = arg;
	int kicked = 0;

	if (frames < s->s_ckpt_kicked_at) /* the WAL started over */
		s->s_ckpt_kicked_at = 0;
	if (frames < STORE_CHECKPOINT_FRAMES)
		return SQLITE_OK;
	if (frames < STORE_CHECKPOINT_FRAMES_WRITER) {
		if (frames < s->s_ckpt_kicked_at + STORE_CHECKPOINT_STEP)
			return SQLITE_OK;
		s->s_ckpt_kicked_at = frames;
		pthread_mutex_lock(&s->s_mu);
		if (s->s_ckpt != NULL) {
			checkpoint_kick(s->s_ckpt);
			kicked = 1;
		}
		pthread_mutex_unlock(&s->s_mu);
	}
	if (!kicked)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static void *store_writer_main(void *arg)
{
	struct store *s = arg;

	pthread_setname_np(pthread_self(), "bbb:writer");

	pthread_mutex_lock(&s->s_mu);
	for (;;) {
		struct store_job *group, *j;
		int n = 0, commits = 0;
		store_commit_hook hook;
		void *hook_arg;

		while (s->s_head == NULL && !s->s_stopping)
			pthread_cond_wait(&s->s_work, &s->s_mu);
		if (s->s_head == NULL)
			break;
		/* Take up to STORE_GROUP_MAX jobs, in arrival order. */
		group = s->s_head;
		for (j = group; j->j_next != NULL && ++n < STORE_GROUP_MAX; j = j->j_next)
			;
		s->s_head = j->j_next;
		if (s->s_head == NULL)
			s->s_tail = NULL;
		j->j_next = NULL;
		pthread_mutex_unlock(&s->s_mu);

		unsigned failures_before = s->s_lock_failures;
		n = 0;
		/* Every pass runs at least one job, so this ends. */
		for (struct store_job *rest = group; rest != NULL;) {
			struct store_pass pass = {0, 0};

			rest = store_run_group(s, rest, &pass);
			if (pass.sp_committed && pass.sp_run > 0) {
				n += pass.sp_run;
				commits++;
			}
		}
		/* What each caller is about to be told is what happened. */
		for (j = group; j != NULL; j = j->j_next) {
			if (j->j_rc != 0 && j->j_st->reason[0] == '\0')
				status_fail(j->j_st, "INTERNAL_ERROR", "write failed without a reason");
			assert(j->j_rc == 0 || j->j_rc == -1);
			assert(j->j_rc != 0 || j->j_committed);
		}

		pthread_mutex_lock(&s->s_mu);
		s->s_stats.ss_lock_failures += s->s_lock_failures > failures_before;
		s->s_stats.ss_writes += (uint64_t)n;
		s->s_stats.ss_commits += (uint64_t)commits;
		if (commits > 0)
			s->s_stats.ss_last_commit_ms = clock_now_ms();
		for (j = group; j != NULL;) {
			struct store_job *next = j->j_next;
			/* j is gone once its caller has s_mu again: not after we
			 * release it. */
			j->j_done = 1;
			pthread_cond_signal(&j->j_cv);
			j = next;
		}
		hook = commits > 0 ? s->s_hook : NULL;
		hook_arg = s->s_hook_arg;
		s->s_hook_running += hook != NULL;
		pthread_mutex_unlock(&s->s_mu);

		if (hook != NULL) {
			int64_t last = store_max_event_id(s->s_db);
			if (last != s->s_last_event_id) {
				s->s_last_event_id = last;
				hook(hook_arg, last);
			}
		}
		pthread_mutex_lock(&s->s_mu);
		if (hook != NULL && --s->s_hook_running == 0)
			pthread_cond_broadcast(&s->s_hook_cv);
	}
	pthread_mutex_unlock(&s->s_mu);
	return NULL;
}

/* Calls the commit hook from the listener, as the writer does (counted in
 * s_hook_running, so store_set_commit_hook waits for it too). */
static void store_listener_hook(struct store *s, int64_t last)
{
	store_commit_hook hook;
	void *hook_arg;

	pthread_mutex_lock(&s->s_mu);
	hook = s->s_hook;
	hook_arg = s->s_hook_arg;
	s->s_hook_running += hook != NULL;
	pthread_mutex_unlock(&s->s_mu);
	if (hook == NULL)
		return;
	hook(hook_arg, last);
	pthread_mutex_lock(&s->s_mu);
	if (--s->s_hook_running == 0)
		pthread_cond_broadcast(&s->s_hook_cv);
	pthread_mutex_unlock(&s->s_mu);
}

static int store_stopping(struct store *s)
{
	int stopping;

	pthread_mutex_lock(&s->s_mu);
	stopping = s->s_stopping;
	pthread_mutex_unlock(&s->s_mu);
	return stopping;
}

/*
 * PostgreSQL: the events other servers commit. A connection of its own
 * LISTENs on STORE_PG_CHANNEL, which every writer notifies at its commits;
 * at each notification, and at least every second (a notification is lost
 * while the session is being made again), the newest event id is read and
 * handed to the commit hook when it moved: the publisher sends what any
 * server committed, the runtime looks again. The hook may hear an id twice
 * (this server's own commits wake the listener too); its users take that.
 */
static void *store_listener_main(void *arg)
{
	struct store *s = arg;
	struct db *db = NULL;
	int64_t seen = 0, last_log = 0;
	bbb_status st;

	pthread_setname_np(pthread_self(), "bbb:listen");
	while (!store_stopping(s)) {
		status_clear(&st);
		if (db == NULL &&
		    (store_pg_open(s->s_path, &db, &st) != 0 || db_exec(db, "LISTEN " STORE_PG_CHANNEL) != DB_OK)) {
			if (db != NULL)
				store_fail(&st, db, db_errcode(db), "LISTEN");
			store_conn_close(db);
			db = NULL;
		}
		if (db != NULL && store_pg_wait_notify(db, s->s_wake_fd, 1000, &st) < 0) {
			store_conn_close(db);
			db = NULL;
		}
		if (db == NULL) {
			if (clock_mono_ms() - last_log >= 60000) {
				last_log = clock_mono_ms();
				log_warn("store", "cannot hear other servers' commits: %s (retrying every second)",
					 st.message);
			}
			struct pollfd wake = {.fd = s->s_wake_fd, .events = POLLIN};
			(void)poll(&wake, 1, 1000);
			continue;
		}
		int64_t head = store_max_event_id(db);
		if (head > seen) {
			seen = head;
			store_listener_hook(s, head);
		}
	}
	store_conn_close(db);
	return NULL;
}

int store_open(struct store **out, const struct store_options *opts, bbb_status *st)
{
	struct store *s = xcalloc(1, sizeof(*s));

	s->s_path = xstrdup(opts->path);
	s->s_durability_full = opts->durability_full;
	s->s_busy_timeout_ms = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
	if (store_conn_open(s->s_path, 0, s->s_durability_full, s->s_busy_timeout_ms, &s->s_db, st) != 0) {
		free(s->s_path);
		free(s);
		return -1;
	}
	s->s_last_event_id = store_max_event_id(s->s_db);
	store_writer_metrics_init(&s->s_metrics);
	if (db_sqlite(s->s_db) != NULL) {
		sqlite3_commit_hook(db_sqlite(s->s_db), store_commit_gate, s);
		sqlite3_wal_hook(db_sqlite(s->s_db), store_wal_hook, s);
	}
	pthread_mutex_init(&s->s_mu, NULL);
	pthread_cond_init(&s->s_work, NULL);
	pthread_cond_init(&s->s_hook_cv, NULL);
	if (pthread_create(&s->s_thread, NULL, store_writer_main, s) != 0) {
		pthread_cond_destroy(&s->s_hook_cv);
		pthread_cond_destroy(&s->s_work);
		pthread_mutex_destroy(&s->s_mu);
		store_conn_close(s->s_db);
		free(s->s_path);
		free(s);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the writer thread");
	}
	s->s_wake_fd = -1;
	if (db_kind(s->s_db) == DB_POSTGRES) {
		s->s_wake_fd = eventfd(0, EFD_CLOEXEC);
		s->s_listening = s->s_wake_fd >= 0 && pthread_create(&s->s_listener, NULL, store_listener_main, s) == 0;
		if (!s->s_listening)
			log_warn("store", "no listener for other servers' commits: events they commit are sent "
					  "when this server commits");
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->s_mu);
	s->s_stopping = 1;
	pthread_cond_signal(&s->s_work);
	pthread_mutex_unlock(&s->s_mu);
	pthread_join(s->s_thread, NULL);
	if (s->s_listening) {
		uint64_t one = 1;

		if (write(s->s_wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			log_warn("store", "cannot wake the listener: it stops within a second");
		pthread_join(s->s_listener, NULL);
	}
	if (s->s_wake_fd >= 0)
		close(s->s_wake_fd);
	checkpoint_stop(s->s_ckpt);
	s->s_ckpt = NULL;
	if (db_sqlite(s->s_db) != NULL)
		db_exec(s->s_db, "PRAGMA wal_checkpoint(TRUNCATE)");
	store_conn_close(s->s_db);
	pthread_mutex_destroy(&s->s_mu);
	pthread_cond_destroy(&s->s_work);
	pthread_cond_destroy(&s->s_hook_cv);
	free(s->s_path);
	free(s);
}

int store_checkpoint_on(struct store *s, struct job_thread *jt, bbb_status *st)
{
	struct checkpointer *c = NULL, *old;

	if (jt != NULL && checkpoint_start(&c, s->s_path, s->s_durability_full, jt, st) != 0)
		return -1;
	pthread_mutex_lock(&s->s_mu);
	old = s->s_ckpt;
	s->s_ckpt = c;
	pthread_mutex_unlock(&s->s_mu);
	checkpoint_stop(old); /* the hook no longer sees it */
	return 0;
}

const char *store_path(const struct store *s)
{
	return s->s_path;
}

int store_reader_open(struct store *s, struct db **out, bbb_status *st)
{
	return store_conn_open(s->s_path, 1, s->s_durability_full, s->s_busy_timeout_ms, out, st);
}

int store_worker_reader_open(struct store *s, struct db **out, bbb_status *st)
{
	/* A server has a reader per worker, most idle while traffic is light:
	 * on PostgreSQL each would hold a backend from the start. */
	if (db_target_kind(s->s_path) == DB_POSTGRES)
		return store_pg_conn_open(s->s_path, 1, s->s_durability_full, s->s_busy_timeout_ms, 1, out, st);
	return store_reader_open(s, out, st);
}

int store_session_open(struct store *s, struct db **out, bbb_status *st)
{
	return store_conn_open(s->s_path, 0, s->s_durability_full, s->s_busy_timeout_ms, out, st);
}

int store_write(struct store *s, store_write_fn fn, void *arg, int64_t deadline_ms, bbb_status *st)
{
	struct store_job job = {
		.j_fn = fn, .j_arg = arg, .j_deadline = deadline_ms, .j_st = st, .j_cv = PTHREAD_COND_INITIALIZER};

	pthread_mutex_lock(&s->s_mu);
	if (s->s_stopping) {
		pthread_mutex_unlock(&s->s_mu);
		return status_fail(st, "SHUTTING_DOWN", "the server is shutting down");
	}
	/* The job lives on this stack frame: we do not return before the writer
	 * has marked it done, and it is never touched after that. */
	if (s->s_tail != NULL)
		s->s_tail->j_next = &job; // cppcheck-suppress autoVariables
	else
		s->s_head = &job; // cppcheck-suppress autoVariables
	s->s_tail = &job; // cppcheck-suppress autoVariables
	pthread_cond_signal(&s->s_work);
	while (!job.j_done)
		pthread_cond_wait(&job.j_cv, &s->s_mu);
	pthread_mutex_unlock(&s->s_mu);
	pthread_cond_destroy(&job.j_cv);
	return job.j_rc;
}

void store_set_commit_hook(struct store *s, store_commit_hook hook, void *arg)
{
	pthread_mutex_lock(&s->s_mu);
	s->s_hook = hook;
	s->s_hook_arg = arg;
	/* The writer calls the hook outside s_mu: a call of the old one may
	 * still run, and what it points to may be freed once we return. */
	while (s->s_hook_running > 0)
		pthread_cond_wait(&s->s_hook_cv, &s->s_mu);
	pthread_mutex_unlock(&s->s_mu);
}

void store_set_lock_hook(struct store *s, store_lock_hook hook, void *arg, int64_t quiet_ms)
{
	pthread_mutex_lock(&s->s_mu);
	s->s_lock_hook = hook;
	s->s_lock_hook_arg = arg;
	s->s_lock_quiet_ms = quiet_ms;
	pthread_mutex_unlock(&s->s_mu);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	pthread_mutex_lock(&s->s_mu);
	*out = s->s_stats;
	out->ss_queued = 0;
	for (struct store_job *j = s->s_head; j != NULL; j = j->j_next)
		out->ss_queued++;
	pthread_mutex_unlock(&s->s_mu);
}

int store_bind_free_text(struct db_stmt *stmt, int idx, const char *s)
{
	char *r = redact_alloc(s);

	if (r == NULL)
		return db_bind_text(stmt, idx, s);
	return db_bind_text_owned(stmt, idx, r);
}
