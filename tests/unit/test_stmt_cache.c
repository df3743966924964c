/*
 * store/: statements prepared once per connection (store_prepare,
 * store_release). What callers depend on: the same text gives back the same
 * statement, reset and unbound; nested use of one text never shares a
 * statement; a failed statement is not kept; a cached statement holds no
 * snapshot or lock; schema changes are followed; closing the connection
 * finalizes everything; the cache is bounded.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/status.h"
#include "store/db_driver.h"
#include "store/stmt_cache.h"
#include "store/store.h"

/* SQLite's own statement behind one of ours. */
#define RAW(s) ((sqlite3_stmt *)(s)->ds_impl)

static char dir[64];
static char path[128];

static int setup(void **state)
{
	struct db *db;
	bbb_status st;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bbb-stmt-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.db", dir);
	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	assert_int_equal(db_exec(db, "CREATE TABLE t (v INTEGER); CREATE TABLE u (k INTEGER UNIQUE)"), SQLITE_OK);
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

static struct db *open_rw(void)
{
	struct db *db;
	bbb_status st;

	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	return db;
}

static struct db_stmt *prepare(struct db *db, const char *sql)
{
	struct db_stmt *stmt = NULL;
	bbb_status st;

	assert_int_equal(store_prepare(db, sql, &stmt, &st), 0);
	assert_non_null(stmt);
	return stmt;
}

/* Statements prepared on db, cached or not. */
static int live_statements(struct db *db)
{
	int n = 0;

	for (sqlite3_stmt *s = sqlite3_next_stmt(db_sqlite(db), NULL); s != NULL;
	     s = sqlite3_next_stmt(db_sqlite(db), s))
		n++;
	return n;
}

static void the_same_sql_gets_the_same_statement_back_after_release(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *a, *b;

	(void)state;
	a = prepare(db, "SELECT count(*) FROM t");
	assert_int_equal(db_step(a), DB_ROW);
	store_release(a);
	b = prepare(db, "SELECT count(*) FROM t");
	assert_ptr_equal(a, b);
	assert_false(sqlite3_stmt_busy(RAW(b))); /* handed out reset */
	assert_int_equal(db_step(b), DB_ROW);
	store_release(b);
	assert_int_equal(stmt_cache_count(db), 1);
	store_conn_close(db);
}

static void the_key_is_the_text_not_the_address(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *a, *b, *c;
	char buf[64];

	(void)state;
	snprintf(buf, sizeof(buf), "SELECT 1");
	a = prepare(db, buf);
	store_release(a);
	/* Another text in the same buffer is another statement... */
	snprintf(buf, sizeof(buf), "SELECT 2");
	b = prepare(db, buf);
	assert_ptr_not_equal(a, b);
	assert_int_equal(db_step(b), DB_ROW);
	assert_int_equal(db_col_int(b, 0), 2);
	store_release(b);
	/* ...and the same text from elsewhere is the same one. */
	c = prepare(db, "SELECT 1");
	assert_ptr_equal(a, c);
	store_release(c);
	store_conn_close(db);
}

static void a_nested_prepare_of_the_same_sql_gets_its_own_statement(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *outer, *inner, *again;
	int n_outer = 0;

	(void)state;
	assert_int_equal(db_exec(db, "INSERT INTO t VALUES (1), (2), (3)"), SQLITE_OK);
	outer = prepare(db, "SELECT v FROM t ORDER BY v");
	while (db_step(outer) == DB_ROW) {
		int n_inner = 0;

		n_outer++;
		inner = prepare(db, "SELECT v FROM t ORDER BY v");
		assert_ptr_not_equal(inner, outer);
		while (db_step(inner) == DB_ROW)
			n_inner++;
		assert_int_equal(n_inner, 3);
		store_release(inner); /* not the cache's: finalized */
		assert_int_equal(db_col_int(outer, 0), n_outer); /* outer's row untouched */
	}
	assert_int_equal(n_outer, 3);
	store_release(outer);
	assert_int_equal(live_statements(db), 1);
	again = prepare(db, "SELECT v FROM t ORDER BY v");
	assert_ptr_equal(again, outer);
	store_release(again);
	store_conn_close(db);
}

static void release_clears_the_bindings(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *stmt;
	char *text = strdup("bound text");

	(void)state;
	stmt = prepare(db, "SELECT ?1, ?2");
	db_bind_i64(stmt, 1, 42);
	db_bind_text(stmt, 2, text);
	assert_int_equal(db_step(stmt), DB_ROW);
	assert_int_equal(db_col_int(stmt, 0), 42);
	store_release(stmt);
	free(text); /* a static binding must not outlive release */
	stmt = prepare(db, "SELECT ?1, ?2");
	assert_int_equal(db_step(stmt), DB_ROW);
	assert_int_equal(sqlite3_column_type(RAW(stmt), 0), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(RAW(stmt), 1), SQLITE_NULL);
	store_release(stmt);
	store_conn_close(db);
}

static void a_failed_statement_reports_its_error_and_is_not_kept(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *stmt;
	bbb_status st;
	int rc;

	(void)state;
	assert_int_equal(db_exec(db, "INSERT INTO u VALUES (1)"), SQLITE_OK);
	stmt = prepare(db, "INSERT INTO u VALUES (?)");
	db_bind_i64(stmt, 1, 1);
	rc = db_step(stmt);
	store_release(stmt);
	assert_int_equal(rc, SQLITE_CONSTRAINT);
	/* The caller still reads the step's error from the connection. */
	assert_int_equal(db_errcode(db), SQLITE_CONSTRAINT_UNIQUE);
	assert_int_equal(store_fail(&st, db, rc, "insert"), -1);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
	assert_int_equal(stmt_cache_count(db), 0);
	assert_int_equal(live_statements(db), 0);
	/* The same text works again, with a fresh statement. */
	stmt = prepare(db, "INSERT INTO u VALUES (?)");
	db_bind_i64(stmt, 1, 2);
	assert_int_equal(db_step(stmt), DB_DONE);
	store_release(stmt);
	assert_int_equal(stmt_cache_count(db), 1);
	store_conn_close(db);
}

static void a_statement_given_back_mid_iteration_holds_no_snapshot(void **state)
{
	struct db *reader, *writer = open_rw();
	struct db_stmt *stmt;
	bbb_status st;
	int logged = -1, done = -1;

	(void)state;
	assert_int_equal(store_conn_open(path, 1, 1, 5000, &reader, &st), 0);
	assert_int_equal(db_exec(writer, "INSERT INTO t VALUES (1), (2)"), SQLITE_OK);
	stmt = prepare(reader, "SELECT v FROM t");
	assert_int_equal(db_step(stmt), DB_ROW); /* stopped on a row: a read transaction is open */
	store_release(stmt);
	assert_int_equal(db_exec(writer, "INSERT INTO t VALUES (3)"), SQLITE_OK);
	/* A TRUNCATE checkpoint waits for no reader: the cached statement ended its read. */
	assert_int_equal(sqlite3_wal_checkpoint_v2(db_sqlite(writer), NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &done),
			 SQLITE_OK);
	assert_int_equal(logged, 0);
	/* And the reader sees the new row at its next use. */
	stmt = prepare(reader, "SELECT count(*) FROM t");
	assert_int_equal(db_step(stmt), DB_ROW);
	assert_int_equal(db_col_int(stmt, 0), 3);
	store_release(stmt);
	store_conn_close(reader);
	store_conn_close(writer);
}

static void cached_statements_follow_schema_changes(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *stmt;
	bbb_status st;

	(void)state;
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(sqlite3_column_count(RAW(stmt)), 1);
	store_release(stmt);
	assert_int_equal(db_exec(db, "ALTER TABLE t ADD COLUMN w TEXT"), SQLITE_OK);
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(db_step(stmt), DB_DONE);
	assert_int_equal(sqlite3_column_count(RAW(stmt)), 2);
	store_release(stmt);
	/* A cached statement does not lock its table against DROP. */
	assert_int_equal(db_exec(db, "DROP TABLE t"), SQLITE_OK);
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(db_step(stmt), SQLITE_ERROR); /* no such table: t */
	store_release(stmt);
	assert_int_equal(stmt_cache_count(db), 0);
	assert_int_equal(store_prepare(db, "SELECT * FROM t", &stmt, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "no such table"));
	assert_int_equal(db_exec(db, "CREATE TABLE t (a, b, c)"), SQLITE_OK);
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(sqlite3_column_count(RAW(stmt)), 3);
	store_release(stmt);
	store_conn_close(db);
}

static void closing_finalizes_every_statement(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *lent, *own;

	(void)state;
	store_release(prepare(db, "SELECT 1"));
	store_release(prepare(db, "SELECT 2"));
	lent = prepare(db, "SELECT 3"); /* still lent when the connection goes */
	own = prepare(db, "SELECT 3");
	assert_int_equal(stmt_cache_count(db), 3);
	assert_int_equal(live_statements(db), 4);
	assert_ptr_not_equal(lent, own);
	/* A statement of its own is the caller's to release; the cache's go
	 * with the connection, the one still lent too (ASan would tell). */
	store_release(own);
	assert_int_equal(live_statements(db), 3);
	store_conn_close(db);

	/* store_conn_close does all of it, lent statements included. */
	db = open_rw();
	store_release(prepare(db, "SELECT 1"));
	(void)prepare(db, "SELECT 2");
	store_conn_close(db);
}

static void a_new_connection_gets_a_cache_of_its_own(void **state)
{
	struct db *first = open_rw(), *second;
	struct db_stmt *stmt;

	(void)state;
	store_release(prepare(first, "SELECT 1"));
	store_conn_close(first);
	/* The allocator often hands the new connection the old one's address. */
	second = open_rw();
	assert_int_equal(stmt_cache_count(second), 0);
	stmt = prepare(second, "SELECT 1");
	assert_ptr_equal(db_stmt_db(stmt), second);
	store_release(stmt);
	assert_int_equal(stmt_cache_count(second), 1);
	store_conn_close(second);
}

static void the_cache_is_bounded_and_texts_past_it_still_work(void **state)
{
	struct db *db = open_rw();
	struct db_stmt *once;
	bbb_status st;
	char sql[64];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		struct db_stmt *stmt;

		snprintf(sql, sizeof(sql), "SELECT %d", i);
		stmt = prepare(db, sql);
		assert_int_equal(db_step(stmt), DB_ROW);
		assert_int_equal(db_col_int(stmt, 0), i);
		store_release(stmt);
	}
	assert_true(stmt_cache_count(db) <= 256);
	assert_int_equal(live_statements(db), (int)stmt_cache_count(db));
	/* Built SQL that must not be kept at all. */
	assert_int_equal(store_prepare_once(db, "SELECT 'once'", &once, &st), 0);
	store_release(once);
	assert_int_equal(live_statements(db), (int)stmt_cache_count(db));
	store_conn_close(db);
}

struct churn {
	struct db *ch_db;
	int ch_wrong; /* failed calls, or statements of another connection */
};

/* cmocka's assertions are not for other threads: this one counts. */
static void *churn_main(void *arg)
{
	struct churn *ch = arg;
	bbb_status st;

	for (int i = 0; i < 2000; i++) {
		struct db_stmt *stmt;

		if (store_prepare(ch->ch_db, i % 2 ? "SELECT 1" : "SELECT 2", &stmt, &st) != 0) {
			ch->ch_wrong++;
			continue;
		}
		ch->ch_wrong += db_stmt_db(stmt) != ch->ch_db;
		ch->ch_wrong += db_step(stmt) != DB_ROW;
		store_release(stmt);
	}
	return NULL;
}

static void threads_each_find_their_own_connections_cache_while_others_open_and_close(void **state)
{
	struct churn ch[2];
	pthread_t th[2];

	(void)state;
	for (int i = 0; i < 2; i++) {
		ch[i] = (struct churn){.ch_db = open_rw()};
		assert_int_equal(pthread_create(&th[i], NULL, churn_main, &ch[i]), 0);
	}
	for (int i = 0; i < 200; i++) {
		struct db *db = open_rw();

		store_release(prepare(db, "SELECT 1"));
		store_conn_close(db);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(ch[i].ch_wrong, 0);
		assert_int_equal(stmt_cache_count(ch[i].ch_db), 2);
		store_conn_close(ch[i].ch_db);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(the_same_sql_gets_the_same_statement_back_after_release, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_key_is_the_text_not_the_address, setup, teardown),
		cmocka_unit_test_setup_teardown(a_nested_prepare_of_the_same_sql_gets_its_own_statement, setup,
						teardown),
		cmocka_unit_test_setup_teardown(release_clears_the_bindings, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_statement_reports_its_error_and_is_not_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(a_statement_given_back_mid_iteration_holds_no_snapshot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(cached_statements_follow_schema_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(closing_finalizes_every_statement, setup, teardown),
		cmocka_unit_test_setup_teardown(a_new_connection_gets_a_cache_of_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(the_cache_is_bounded_and_texts_past_it_still_work, setup, teardown),
		cmocka_unit_test_setup_teardown(
			threads_each_find_their_own_connections_cache_while_others_open_and_close, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
