/*
 * store/: the single writer with group commit, on a real database file, and
 * what callers are told when SQLite rolls a group's transaction back on its
 * own. Errors are forced for real: SQLITE_FULL with PRAGMA max_page_count on
 * the writer's own connection (a write function gets it), a whole-transaction
 * rollback with an `OR ROLLBACK` conflict clause, SQLITE_READONLY with a
 * read-only connection, SQLITE_BUSY with a second connection.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/job_thread.h"
#include "common/status.h"
#include "store/store.h"
#include "unit_db.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	struct db *db;
	bbb_status st;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bbb-writer-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/w.db", dir);
	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	assert_int_equal(db_exec(db, "CREATE TABLE t (v INTEGER); CREATE TABLE u (k INTEGER UNIQUE); "
				     "INSERT INTO u VALUES (1)"),
			 SQLITE_OK);
	store_conn_close(db);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static int count_rows(const char *where)
{
	struct db *db;
	struct db_stmt *stmt;
	bbb_status st;
	char sql[128];
	int n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE %s", where);
	assert_int_equal(store_conn_open(path, 1, 1, 5000, &db, &st), 0);
	assert_int_equal(unit_prepare(db, sql, &stmt), SQLITE_OK);
	assert_int_equal(db_step(stmt), DB_ROW);
	n = db_col_int(stmt, 0);
	store_release(stmt);
	store_conn_close(db);
	return n;
}

struct insert {
	int value;
	int fail; /* insert, then fail: must be rolled back */
	struct store *gate_store; /* if set: hold the writer until this many writes queue up */
	uint64_t gate_depth;
	atomic_int entered; /* set when the writer started this write */
};

static int insert_write(struct db *db, void *arg, bbb_status *st)
{
	struct insert *in = arg;
	char sql[64];

	atomic_store(&in->entered, 1);
	if (in->gate_store != NULL) {
		struct store_stats ss;
		int64_t until = clock_mono_ms() + 10000;
		do {
			usleep(1000);
			store_get_stats(in->gate_store, &ss);
		} while (ss.ss_queued < in->gate_depth && clock_mono_ms() < until);
	}
	snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d)", in->value);
	if (db_exec(db, sql) != SQLITE_OK)
		return store_fail(st, db, SQLITE_ERROR, "insert");
	if (in->fail)
		return status_fail(st, "VALIDATION_ERROR", "refused after writing");
	return 0;
}

struct writer_arg {
	struct store *s;
	struct insert in;
	int rc;
	bbb_status st;
};

static void *writer_thread(void *p)
{
	struct writer_arg *w = p;

	status_clear(&w->st);
	w->rc = store_write(w->s, insert_write, &w->in, 0, &w->st);
	return NULL;
}

static void wait_entered(struct insert *in)
{
	while (!atomic_load(&in->entered))
		usleep(1000);
}

static struct store *open_store(int busy_ms)
{
	struct store_options o = {.path = path, .durability_full = 1, .busy_timeout_ms = busy_ms};
	struct store *s;
	bbb_status st;

	assert_int_equal(store_open(&s, &o, &st), 0);
	return s;
}

/* A commit hook that stays in its call until told to leave. */
struct hook_probe {
	atomic_int hp_entered;
	atomic_int hp_release;
	atomic_int hp_left;
};

static void probe_hook(void *arg, int64_t last_event_id)
{
	struct hook_probe *hp = arg;

	(void)last_event_id;
	atomic_store(&hp->hp_entered, 1);
	while (!atomic_load(&hp->hp_release))
		usleep(1000);
	atomic_store(&hp->hp_left, 1);
}

static void *release_probe_later(void *arg)
{
	struct hook_probe *hp = arg;

	usleep(100 * 1000);
	atomic_store(&hp->hp_release, 1);
	return NULL;
}

static int insert_event(struct db *db, void *arg, bbb_status *st)
{
	(void)arg;
	if (db_exec(db, "INSERT INTO events DEFAULT VALUES") != SQLITE_OK)
		return store_fail(st, db, SQLITE_ERROR, "insert event");
	return 0;
}

/* The server frees what its hook pokes (the worker pool, the runtime) while
 * the writer still commits: once store_set_commit_hook returns, no call of
 * the hook it replaced may still be running. */
static void replacing_the_commit_hook_waits_for_its_call_under_way(void **state)
{
	struct hook_probe hp = {0};
	struct store *s;
	pthread_t th;
	struct db *db;
	bbb_status st;

	(void)state;
	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	assert_int_equal(db_exec(db, "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT)"), SQLITE_OK);
	store_conn_close(db);
	s = open_store(0);
	store_set_commit_hook(s, probe_hook, &hp);
	status_clear(&st);
	assert_int_equal(store_write(s, insert_event, NULL, 0, &st), 0);
	while (!atomic_load(&hp.hp_entered))
		usleep(1000);
	pthread_create(&th, NULL, release_probe_later, &hp);
	store_set_commit_hook(s, NULL, NULL);
	assert_int_equal(atomic_load(&hp.hp_left), 1);
	pthread_join(th, NULL);
	store_close(s);
}

static void queued_writes_commit_together_in_one_group(void **state)
{
	struct store *s = open_store(0);
	struct writer_arg w[8];
	pthread_t th[8];
	struct store_stats ss;

	(void)state;
	/* The first write holds the writer until the 7 others are queued behind it. */
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 8; i++) {
		w[i].s = s;
		w[i].in.value = 100 + i;
	}
	w[0].in.gate_store = s;
	w[0].in.gate_depth = 7;
	pthread_create(&th[0], NULL, writer_thread, &w[0]);
	wait_entered(&w[0].in);
	for (int i = 1; i < 8; i++)
		pthread_create(&th[i], NULL, writer_thread, &w[i]);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	store_get_stats(s, &ss);
	assert_int_equal(ss.ss_writes, 8);
	assert_int_equal(ss.ss_commits, 2);
	store_close(s);
	assert_int_equal(count_rows("v >= 100 AND v < 108"), 8);
}

static void failing_write_rolls_back_alone(void **state)
{
	struct store *s = open_store(0);
	struct writer_arg w[3];
	pthread_t th[3];

	(void)state;
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 3; i++) {
		w[i].s = s;
		w[i].in.value = 200 + i;
	}
	w[0].in.gate_store = s;
	w[0].in.gate_depth = 2;
	w[1].in.fail = 1;
	pthread_create(&th[0], NULL, writer_thread, &w[0]);
	wait_entered(&w[0].in);
	pthread_create(&th[1], NULL, writer_thread, &w[1]);
	pthread_create(&th[2], NULL, writer_thread, &w[2]);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].rc, 0);
	assert_int_equal(w[1].rc, -1);
	assert_string_equal(w[1].st.reason, "VALIDATION_ERROR");
	assert_int_equal(w[2].rc, 0);
	store_close(s);
	assert_int_equal(count_rows("v = 200 OR v = 202"), 2);
	assert_int_equal(count_rows("v = 201"), 0);
}

static void write_past_its_deadline_is_not_run(void **state)
{
	struct store *s = open_store(0);
	struct insert in = {.value = 300};
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(store_write(s, insert_write, &in, clock_mono_ms() - 1, &st), -1);
	assert_int_equal(st.code, BBB_DEADLINE_EXCEEDED);
	store_close(s);
	assert_int_equal(count_rows("v = 300"), 0);
}

static void stats_name_the_wall_time_of_the_latest_commit(void **state)
{
	struct store *s = open_store(0);
	struct insert in = {.value = 310};
	struct store_stats ss;
	int64_t before;
	bbb_status st;

	(void)state;
	status_clear(&st);
	store_get_stats(s, &ss);
	assert_int_equal(ss.ss_last_commit_ms, 0);
	before = clock_now_ms();
	assert_int_equal(store_write(s, insert_write, &in, 0, &st), 0);
	store_get_stats(s, &ss);
	assert_true(ss.ss_last_commit_ms >= before);
	assert_true(ss.ss_last_commit_ms <= clock_now_ms());
	store_close(s);
}

static void write_lock_held_elsewhere_gives_db_locked_and_loses_nothing(void **state)
{
	struct store *s = open_store(200);
	struct insert before = {.value = 400}, during = {.value = 401}, after = {.value = 402};
	struct db *other;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(store_write(s, insert_write, &before, 0, &st), 0);
	assert_int_equal(store_conn_open(path, 0, 1, 100, &other, &st), 0);
	assert_int_equal(db_exec(other, "BEGIN IMMEDIATE"), SQLITE_OK);
	assert_int_equal(store_write(s, insert_write, &during, 0, &st), -1);
	assert_int_equal(st.code, BBB_UNAVAILABLE);
	assert_string_equal(st.reason, "DB_LOCKED");
	assert_int_equal(db_exec(other, "ROLLBACK"), SQLITE_OK);
	store_conn_close(other);
	status_clear(&st);
	assert_int_equal(store_write(s, insert_write, &after, 0, &st), 0);
	store_close(s);
	assert_int_equal(count_rows("v = 400 OR v = 402"), 2);
	assert_int_equal(count_rows("v = 401"), 0);
}

/* ---- SQLite rolling a group back on its own ---- */

/* One write of a group: runs `sql`; with fill_disk under a max_page_count
 * of the pages the file has now, so that a new page fails with SQLITE_FULL
 * as on a full disk (the limit is lifted again afterwards, unless
 * keep_limit: then SQLite's error stays the last thing on the connection). */
#define NO_PAGE_LIMIT "PRAGMA max_page_count = 1073741823; "
struct sql_job {
	const char *sql;
	int fill_disk;
	int keep_limit;
	int swallow; /* return 0 even when sql failed */
	int rc;
	store_write_fn inner; /* instead of sql: a write that runs savepoints of its own */
	struct store *gate_store; /* hold the writer until gate_depth writes queue up */
	uint64_t gate_depth;
	atomic_int entered;
	atomic_int done;
	bbb_status st;
};

static int job_write(struct db *db, void *arg, bbb_status *st)
{
	struct sql_job *j = arg;
	int rc;

	atomic_store(&j->entered, 1);
	if (j->gate_store != NULL) {
		struct store_stats ss;
		int64_t until = clock_mono_ms() + 10000;
		do {
			usleep(1000);
			store_get_stats(j->gate_store, &ss);
		} while (ss.ss_queued < j->gate_depth && clock_mono_ms() < until);
	}
	if (j->inner != NULL)
		return j->inner(db, arg, st);
	if (j->fill_disk) {
		struct db_stmt *stmt;
		char pragma[64];
		int pages = 0;

		assert_int_equal(unit_prepare(db, "PRAGMA page_count", &stmt), SQLITE_OK);
		if (db_step(stmt) == DB_ROW)
			pages = db_col_int(stmt, 0);
		store_release(stmt);
		snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %d", pages);
		assert_int_equal(db_exec(db, pragma), SQLITE_OK);
	}
	rc = db_exec(db, j->sql);
	if (rc != SQLITE_OK && !j->swallow)
		store_fail(st, db, rc, "job");
	if (j->fill_disk && !j->keep_limit)
		db_exec(db, NO_PAGE_LIMIT);
	return rc != SQLITE_OK && !j->swallow ? -1 : 0;
}

struct job_thread {
	struct store *jt_store;
	struct sql_job *jt_job;
};

static void *job_thread_main(void *p)
{
	struct job_thread *jt = p;

	status_clear(&jt->jt_job->st);
	jt->jt_job->rc = store_write(jt->jt_store, job_write, jt->jt_job, 0, &jt->jt_job->st);
	atomic_store(&jt->jt_job->done, 1);
	return NULL;
}

/* Runs jobs[0..n) as one group, in this order: a write of its own holds the
 * writer until they are all queued, each only after the one before it. */
static void run_group(struct store *s, struct sql_job *jobs, int n)
{
	struct sql_job gate = {.sql = "SELECT 1", .gate_store = s, .gate_depth = (uint64_t)n};
	struct job_thread jt[9];
	pthread_t th[9];
	struct store_stats ss;

	assert_true(n <= 8);
	for (int i = 0; i <= n; i++) {
		jt[i] = (struct job_thread){s, i == 0 ? &gate : &jobs[i - 1]};
		pthread_create(&th[i], NULL, job_thread_main, &jt[i]);
		if (i == 0) {
			while (!atomic_load(&gate.entered))
				usleep(1000);
			continue;
		}
		/* The gate lets go once all are queued; the writer may take them
		 * before we look. */
		do {
			usleep(1000);
			store_get_stats(s, &ss);
		} while (ss.ss_queued < (uint64_t)i && !atomic_load(&gate.done));
	}
	for (int i = 0; i <= n; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(gate.rc, 0);
}

static void assert_failed(const struct sql_job *j, const char *reason)
{
	assert_int_equal(j->rc, -1);
	assert_string_equal(j->st.reason, reason);
}

static void disk_full_in_a_group_fails_exactly_the_writes_that_did_not_commit(void **state)
{
	struct store *s = open_store(0);
	struct sql_job jobs[4] = {
		{.sql = "INSERT INTO t VALUES (500)"},
		{.sql = "INSERT INTO t VALUES (501)"},
		{.sql = "INSERT INTO t VALUES (randomblob(200000))", .fill_disk = 1},
		{.sql = "INSERT INTO t VALUES (503)"},
	};
	struct sql_job after = {.sql = "INSERT INTO t VALUES (504)"};
	bbb_status st;

	(void)state;
	run_group(s, jobs, 4);
	/* SQLite rolled the whole transaction back: the two before went too. */
	assert_failed(&jobs[0], "DISK_FULL");
	assert_int_equal(jobs[0].st.code, BBB_RESOURCE_EXHAUSTED);
	assert_failed(&jobs[1], "DISK_FULL");
	assert_failed(&jobs[2], "DISK_FULL");
	/* The one after it had not run: it ran in a transaction of its own. */
	assert_int_equal(jobs[3].rc, 0);
	/* Space is back: writes go on. */
	status_clear(&st);
	assert_int_equal(store_write(s, job_write, &after, 0, &st), 0);
	store_close(s);
	assert_int_equal(count_rows("v >= 500 AND v <= 502 OR typeof(v) = 'blob'"), 0);
	assert_int_equal(count_rows("v = 503 OR v = 504"), 2);
}

static void rollback_conflict_clause_fails_the_earlier_writes_of_its_group_not_the_later(void **state)
{
	struct store *s = open_store(0);
	struct sql_job jobs[3] = {
		{.sql = "INSERT INTO t VALUES (600)"},
		{.sql = "INSERT INTO t VALUES (601); INSERT OR ROLLBACK INTO u VALUES (1)"},
		{.sql = "INSERT INTO t VALUES (602)"},
	};

	(void)state;
	run_group(s, jobs, 3);
	/* Not the database's fault, so the innocent one is told INTERNAL_ERROR,
	 * saying why; the guilty one keeps its own reason. */
	assert_failed(&jobs[0], "INTERNAL_ERROR");
	assert_non_null(strstr(jobs[0].st.message, "not applied"));
	assert_failed(&jobs[1], "RESOURCE_CONFLICT");
	assert_int_equal(jobs[2].rc, 0);
	store_close(s);
	assert_int_equal(count_rows("v = 600 OR v = 601"), 0);
	assert_int_equal(count_rows("v = 602"), 1);
}

static void write_that_ignores_the_error_which_rolled_back_its_group_is_not_reported_ok(void **state)
{
	struct store *s = open_store(0);
	struct sql_job jobs[3] = {
		{.sql = "INSERT INTO t VALUES (700)"},
		/* Swallows SQLITE_FULL and returns 0, as a write that ignores a
		 * statement's result would. */
		{.sql = "INSERT INTO t VALUES (randomblob(200000))", .fill_disk = 1, .keep_limit = 1, .swallow = 1},
		{.sql = NO_PAGE_LIMIT "INSERT INTO t VALUES (702)"},
	};

	(void)state;
	run_group(s, jobs, 3);
	assert_failed(&jobs[0], "DISK_FULL");
	assert_failed(&jobs[1], "DISK_FULL");
	assert_int_equal(jobs[2].rc, 0);
	store_close(s);
	assert_int_equal(count_rows("v = 700 OR typeof(v) = 'blob'"), 0);
	assert_int_equal(count_rows("v = 702"), 1);
}

static void commit_from_inside_a_write_is_refused_and_rolls_its_group_back(void **state)
{
	struct store *s = open_store(0);
	struct sql_job jobs[3] = {
		{.sql = "INSERT INTO t VALUES (800)"},
		{.sql = "INSERT INTO t VALUES (801); COMMIT", .swallow = 1},
		{.sql = "INSERT INTO t VALUES (802)"},
	};

	(void)state;
	run_group(s, jobs, 3);
	assert_failed(&jobs[0], "INTERNAL_ERROR");
	assert_failed(&jobs[1], "INTERNAL_ERROR");
	assert_int_equal(jobs[2].rc, 0);
	store_close(s);
	assert_int_equal(count_rows("v = 800 OR v = 801"), 0);
	assert_int_equal(count_rows("v = 802"), 1);
}

/* Inner writes for the savepoint-in-a-write tests, as the runtime records a
 * batch of outcomes: one savepoint each. */
static int inner_insert(struct db *db, void *arg, bbb_status *st)
{
	int rc = db_exec(db, arg);

	return rc == SQLITE_OK ? 0 : store_fail(st, db, rc, "inner");
}

static int inner_insert_then_fail(struct db *db, void *arg, bbb_status *st)
{
	if (inner_insert(db, arg, st) != 0)
		return -1;
	return status_fail(st, "VALIDATION_ERROR", "refused after writing");
}

/* ok, failed alone, then (when arg says so) one that loses the transaction. */
static int batch_write(struct db *db, void *arg, bbb_status *st)
{
	struct sql_job *j = arg;
	bbb_status one;

	status_clear(&one);
	if (store_savepoint(db, "o", inner_insert, "INSERT INTO t VALUES (901)", &one) != STORE_SP_OK)
		return -1;
	status_clear(&one);
	if (store_savepoint(db, "o", inner_insert_then_fail, "INSERT INTO t VALUES (902)", &one) != STORE_SP_FAILED)
		return -1;
	assert_string_equal(one.reason, "VALIDATION_ERROR");
	if (!j->swallow)
		return 0;
	status_clear(&one);
	if (store_savepoint(db, "o", inner_insert, "INSERT OR ROLLBACK INTO u VALUES (1)", &one) == STORE_SP_TX_LOST) {
		*st = one;
		return -1;
	}
	return 0;
}

static void savepoints_inside_a_write_undo_alone_or_report_the_lost_transaction(void **state)
{
	struct store *s = open_store(0);
	struct sql_job alone = {.inner = batch_write};
	struct sql_job jobs[3] = {
		{.sql = "INSERT INTO t VALUES (900)"},
		{.inner = batch_write, .swallow = 1},
		{.sql = "INSERT INTO t VALUES (903)"},
	};
	bbb_status st;

	(void)state;
	/* Nothing lost: the failed inner write is undone, the other stays. */
	status_clear(&st);
	assert_int_equal(store_write(s, job_write, &alone, 0, &st), 0);
	store_close(s);
	assert_int_equal(count_rows("v = 901"), 1);
	assert_int_equal(count_rows("v = 902"), 0);

	s = open_store(0);
	run_group(s, jobs, 3);
	assert_failed(&jobs[0], "INTERNAL_ERROR");
	assert_failed(&jobs[1], "RESOURCE_CONFLICT");
	assert_int_equal(jobs[2].rc, 0);
	store_close(s);
	assert_int_equal(count_rows("v = 900 OR v = 902"), 0);
	assert_int_equal(count_rows("v = 901"), 1); /* the first write's, not the group's */
	assert_int_equal(count_rows("v = 903"), 1);
}

/* A lock hook that loses the transaction the first time it reports. */
static atomic_int hook_calls;

static int losing_lock_hook(void *arg, struct db *db, enum store_lock_event ev, unsigned failures)
{
	(void)arg;
	(void)failures;
	assert_int_equal(ev, STORE_LOCK_FAILED);
	if (atomic_fetch_add(&hook_calls, 1) == 0)
		db_exec(db, "INSERT INTO t VALUES (1000); INSERT OR ROLLBACK INTO u VALUES (1)");
	else
		db_exec(db, "INSERT INTO t VALUES (1001)");
	return 0;
}

static void lock_hook_that_loses_the_transaction_costs_the_writes_nothing_and_reports_again(void **state)
{
	struct store *s = open_store(100);
	struct sql_job refused = {.sql = "INSERT INTO t VALUES (1002)"};
	struct sql_job first = {.sql = "INSERT INTO t VALUES (1003)"};
	struct sql_job second = {.sql = "INSERT INTO t VALUES (1004)"};
	struct db *other;
	bbb_status st;

	(void)state;
	atomic_store(&hook_calls, 0);
	store_set_lock_hook(s, losing_lock_hook, NULL, 60000);
	assert_int_equal(store_conn_open(path, 0, 1, 100, &other, &st), 0);
	assert_int_equal(db_exec(other, "BEGIN IMMEDIATE"), SQLITE_OK);
	status_clear(&st);
	assert_int_equal(store_write(s, job_write, &refused, 0, &st), -1);
	assert_string_equal(st.reason, "DB_LOCKED");
	assert_int_equal(db_exec(other, "ROLLBACK"), SQLITE_OK);
	store_conn_close(other);

	status_clear(&st);
	assert_int_equal(store_write(s, job_write, &first, 0, &st), 0);
	assert_int_equal(atomic_load(&hook_calls), 1);
	status_clear(&st);
	assert_int_equal(store_write(s, job_write, &second, 0, &st), 0);
	assert_int_equal(atomic_load(&hook_calls), 2);
	store_close(s);
	assert_int_equal(count_rows("v = 1003 OR v = 1004 OR v = 1001"), 3);
	assert_int_equal(count_rows("v = 1000 OR v = 1002"), 0);
}

/* ---- what SQLite errors become ---- */

static void full_read_only_and_corrupt_databases_get_their_own_reasons(void **state)
{
	struct db *ro, *rw;
	bbb_status st;
	int rc;

	(void)state;
	status_clear(&st);
	assert_int_equal(store_conn_open(path, 1, 1, 100, &ro, &st), 0);
	rc = db_exec(ro, "INSERT INTO t VALUES (1)");
	assert_int_equal(rc, SQLITE_READONLY);
	store_fail(&st, ro, rc, "insert");
	assert_string_equal(st.reason, "DB_READ_ONLY");
	assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
	assert_int_equal(store_check_usable(ro, path, &st), -1);
	assert_string_equal(st.reason, "DB_READ_ONLY");
	store_conn_close(ro);

	assert_int_equal(store_conn_open(path, 0, 1, 100, &rw, &st), 0);
	assert_int_equal(store_check_usable(rw, path, &st), 0);
	assert_int_equal(db_exec(rw, "PRAGMA max_page_count = 1"), SQLITE_OK);
	rc = db_exec(rw, "INSERT INTO t VALUES (randomblob(100000))");
	assert_int_equal(rc, SQLITE_FULL);
	/* A caller that passes the generic code still gets the precise one. */
	store_fail(&st, rw, SQLITE_ERROR, "insert");
	assert_string_equal(st.reason, "DISK_FULL");
	assert_int_equal(st.code, BBB_RESOURCE_EXHAUSTED);
	store_conn_close(rw);
}

static void quick_check_refuses_a_file_with_random_bytes_in_the_middle(void **state)
{
	unsigned char junk[8192];
	struct stat sb;
	struct db *db;
	bbb_status st;
	FILE *f;

	(void)state;
	status_clear(&st);
	assert_int_equal(store_conn_open(path, 0, 1, 100, &db, &st), 0);
	assert_int_equal(db_exec(db, "CREATE INDEX t_v ON t (v); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
				     "i + 1 FROM n WHERE i < 20000) INSERT INTO t SELECT i FROM n"),
			 SQLITE_OK);
	store_conn_close(db); /* checkpoints: everything is in the file */
	assert_int_equal(stat(path, &sb), 0);
	srand(42);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)rand();
	f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, sb.st_size / 2, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	fclose(f);

	assert_int_equal(store_conn_open(path, 0, 1, 100, &db, &st), 0);
	assert_int_equal(store_check_usable(db, path, &st), -1);
	assert_string_equal(st.reason, "DB_CORRUPT");
	assert_non_null(strstr(st.message, path));
	assert_non_null(strstr(st.message, "beebeebrain restore"));
	store_conn_close(db);
}

/* One page-sized row per write, one commit each: a frame or two of WAL. */
static int blob_write(struct db *db, void *arg, bbb_status *st)
{
	(void)arg;
	(void)st;
	return db_exec(db, "CREATE TABLE IF NOT EXISTS b (x BLOB); INSERT INTO b VALUES (zeroblob(3000))") == DB_OK
		       ? 0
		       : -1;
}

static off_t file_size(const char *suffix)
{
	char p[160];
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

/* Writes until the WAL holds at least `frames` frames (a 4 KiB page each);
 * returns the number of writes. */
static int write_frames(struct store *s, int frames)
{
	bbb_status st;
	int i;

	for (i = 0; i < 20000 && file_size("-wal") < (off_t)frames * 4120; i++)
		assert_int_equal(store_write(s, blob_write, NULL, 0, &st), 0);
	assert_true(file_size("-wal") >= (off_t)frames * 4120);
	return i;
}

static int count_blobs(void)
{
	struct db *db;
	struct db_stmt *stmt;
	bbb_status st;
	int n;

	assert_int_equal(store_conn_open(path, 1, 1, 5000, &db, &st), 0);
	assert_int_equal(unit_prepare(db, "SELECT count(*) FROM b", &stmt), SQLITE_OK);
	assert_int_equal(db_step(stmt), DB_ROW);
	n = db_col_int(stmt, 0);
	store_release(stmt);
	store_conn_close(db);
	return n;
}

/* Past 1,000 frames the checkpointer copies the WAL into the database file,
 * on its own thread: the writer does not until 2,000. */
static void checkpointer_copies_the_wal_past_1000_frames(void **state)
{
	struct store_options so = {.path = path, .durability_full = 1};
	struct job_thread *jt;
	struct store *s;
	bbb_status st;
	off_t db_before;
	int i;

	(void)state;
	assert_int_equal(job_thread_start(&jt, "test:ckpt", &st), 0);
	assert_int_equal(store_open(&s, &so, &st), 0);
	assert_int_equal(store_checkpoint_on(s, jt, &st), 0);
	db_before = file_size("");
	write_frames(s, 1600);
	for (i = 0; i < 500 && file_size("") <= db_before; i++)
		usleep(10000);
	assert_true(file_size("") > db_before);
	assert_true(file_size("-wal") < 2000 * 4120); /* the writer's own pass did not run */
	store_close(s);
	job_thread_stop(jt);
}

/* The WAL does not grow past about 2,000 frames while writes go on with a
 * checkpointer (the writer finishes its pass and SQLite starts the WAL
 * over), nor past about 1,000 without one (the writer checkpoints, as SQLite
 * does on its own); nothing written is lost either way. */
static void wal_stays_bounded_under_writes(void **state)
{
	struct store_options so = {.path = path, .durability_full = 1};
	struct job_thread *jt;
	struct store *s;
	bbb_status st;
	off_t db_before;

	(void)state;
	assert_int_equal(store_open(&s, &so, &st), 0);
	db_before = file_size("");
	for (int i = 0; i < 3000; i++)
		assert_int_equal(store_write(s, blob_write, NULL, 0, &st), 0);
	assert_true(file_size("") > db_before);
	assert_true(file_size("-wal") <= (off_t)1100 * 4120);
	store_close(s);

	assert_int_equal(job_thread_start(&jt, "test:ckpt", &st), 0);
	assert_int_equal(store_open(&s, &so, &st), 0);
	assert_int_equal(store_checkpoint_on(s, jt, &st), 0);
	for (int i = 0; i < 6000; i++)
		assert_int_equal(store_write(s, blob_write, NULL, 0, &st), 0);
	assert_true(file_size("-wal") <= (off_t)2100 * 4120);
	store_close(s);
	job_thread_stop(jt);
	assert_int_equal(count_blobs(), 9000);
}

/* A reader that keeps one snapshot for long stops every checkpoint from
 * reaching the WAL's end, so the WAL grows as long as it reads (the writes
 * go on). Once it lets go, the WAL starts over, and its file is cut back
 * instead of keeping that size for good. */
static void wal_grown_behind_a_long_reader_is_cut_back_once_it_lets_go(void **state)
{
	struct store_options so = {.path = path, .durability_full = 1};
	struct job_thread *jt;
	struct store *s;
	struct db *rd;
	bbb_status st;

	(void)state;
	assert_int_equal(job_thread_start(&jt, "test:ckpt", &st), 0);
	assert_int_equal(store_open(&s, &so, &st), 0);
	assert_int_equal(store_checkpoint_on(s, jt, &st), 0);
	assert_int_equal(store_conn_open(path, 1, 1, 5000, &rd, &st), 0);
	assert_int_equal(db_exec(rd, "BEGIN; SELECT count(*) FROM t"), SQLITE_OK);
	for (int i = 0; i < 6000; i++)
		assert_int_equal(store_write(s, blob_write, NULL, 0, &st), 0);
	assert_true(file_size("-wal") > (off_t)STORE_WAL_SIZE_LIMIT);
	assert_int_equal(db_exec(rd, "COMMIT"), SQLITE_OK);
	store_conn_close(rd);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(store_write(s, blob_write, NULL, 0, &st), 0);
	assert_true(file_size("-wal") <= (off_t)STORE_WAL_SIZE_LIMIT);
	store_close(s);
	job_thread_stop(jt);
	assert_int_equal(count_blobs(), 9000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(queued_writes_commit_together_in_one_group, setup, teardown),
		cmocka_unit_test_setup_teardown(failing_write_rolls_back_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(write_past_its_deadline_is_not_run, setup, teardown),
		cmocka_unit_test_setup_teardown(stats_name_the_wall_time_of_the_latest_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(write_lock_held_elsewhere_gives_db_locked_and_loses_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(disk_full_in_a_group_fails_exactly_the_writes_that_did_not_commit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			rollback_conflict_clause_fails_the_earlier_writes_of_its_group_not_the_later, setup, teardown),
		cmocka_unit_test_setup_teardown(
			write_that_ignores_the_error_which_rolled_back_its_group_is_not_reported_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(commit_from_inside_a_write_is_refused_and_rolls_its_group_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(savepoints_inside_a_write_undo_alone_or_report_the_lost_transaction,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			lock_hook_that_loses_the_transaction_costs_the_writes_nothing_and_reports_again, setup,
			teardown),
		cmocka_unit_test_setup_teardown(full_read_only_and_corrupt_databases_get_their_own_reasons, setup,
						teardown),
		cmocka_unit_test_setup_teardown(quick_check_refuses_a_file_with_random_bytes_in_the_middle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(checkpointer_copies_the_wal_past_1000_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(wal_stays_bounded_under_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(replacing_the_commit_hook_waits_for_its_call_under_way, setup,
						teardown),
		cmocka_unit_test_setup_teardown(wal_grown_behind_a_long_reader_is_cut_back_once_it_lets_go, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
