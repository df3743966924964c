/* store/: the single writer with group commit, on a real database file. */
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	sqlite3 *db;
	bbb_status st;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bbb-writer-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/w.db", dir);
	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (v INTEGER)", NULL, NULL, NULL), SQLITE_OK);
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
	sqlite3 *db;
	sqlite3_stmt *stmt;
	bbb_status st;
	char sql[128];
	int n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE %s", where);
	assert_int_equal(store_conn_open(path, 1, 1, 5000, &db, &st), 0);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
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

static int insert_write(sqlite3 *db, void *arg, bbb_status *st)
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
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
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

static void write_lock_held_elsewhere_gives_db_locked_and_loses_nothing(void **state)
{
	struct store *s = open_store(200);
	struct insert before = {.value = 400}, during = {.value = 401}, after = {.value = 402};
	sqlite3 *other;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(store_write(s, insert_write, &before, 0, &st), 0);
	assert_int_equal(store_conn_open(path, 0, 1, 100, &other, &st), 0);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_write(s, insert_write, &during, 0, &st), -1);
	assert_int_equal(st.code, BBB_UNAVAILABLE);
	assert_string_equal(st.reason, "DB_LOCKED");
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	store_conn_close(other);
	status_clear(&st);
	assert_int_equal(store_write(s, insert_write, &after, 0, &st), 0);
	store_close(s);
	assert_int_equal(count_rows("v = 400 OR v = 402"), 2);
	assert_int_equal(count_rows("v = 401"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(queued_writes_commit_together_in_one_group, setup, teardown),
		cmocka_unit_test_setup_teardown(failing_write_rolls_back_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(write_past_its_deadline_is_not_run, setup, teardown),
		cmocka_unit_test_setup_teardown(write_lock_held_elsewhere_gives_db_locked_and_loses_nothing, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
