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
#include "store/stmt_cache.h"
#include "store/store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	sqlite3 *db;
	bbb_status st;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bbb-stmt-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.db", dir);
	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	assert_int_equal(
		sqlite3_exec(db, "CREATE TABLE t (v INTEGER); CREATE TABLE u (k INTEGER UNIQUE)", NULL, NULL, NULL),
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

static sqlite3 *open_rw(void)
{
	sqlite3 *db;
	bbb_status st;

	assert_int_equal(store_conn_open(path, 0, 1, 5000, &db, &st), 0);
	return db;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	bbb_status st;

	assert_int_equal(store_prepare(db, sql, &stmt, &st), 0);
	assert_non_null(stmt);
	return stmt;
}

/* Statements prepared on db, cached or not. */
static int live_statements(sqlite3 *db)
{
	int n = 0;

	for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s != NULL; s = sqlite3_next_stmt(db, s))
		n++;
	return n;
}

static void the_same_sql_gets_the_same_statement_back_after_release(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *a, *b;

	(void)state;
	a = prepare(db, "SELECT count(*) FROM t");
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	store_release(a);
	b = prepare(db, "SELECT count(*) FROM t");
	assert_ptr_equal(a, b);
	assert_false(sqlite3_stmt_busy(b)); /* handed out reset */
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	store_release(b);
	assert_int_equal(stmt_cache_count(db), 1);
	store_conn_close(db);
}

static void the_key_is_the_text_not_the_address(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *a, *b, *c;
	char buf[64];

	(void)state;
	snprintf(buf, sizeof(buf), "SELECT 1");
	a = prepare(db, buf);
	store_release(a);
	/* Another text in the same buffer is another statement... */
	snprintf(buf, sizeof(buf), "SELECT 2");
	b = prepare(db, buf);
	assert_ptr_not_equal(a, b);
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(b, 0), 2);
	store_release(b);
	/* ...and the same text from elsewhere is the same one. */
	c = prepare(db, "SELECT 1");
	assert_ptr_equal(a, c);
	store_release(c);
	store_conn_close(db);
}

static void a_nested_prepare_of_the_same_sql_gets_its_own_statement(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *outer, *inner, *again;
	int n_outer = 0;

	(void)state;
	assert_int_equal(sqlite3_exec(db, "INSERT INTO t VALUES (1), (2), (3)", NULL, NULL, NULL), SQLITE_OK);
	outer = prepare(db, "SELECT v FROM t ORDER BY v");
	while (sqlite3_step(outer) == SQLITE_ROW) {
		int n_inner = 0;

		n_outer++;
		inner = prepare(db, "SELECT v FROM t ORDER BY v");
		assert_ptr_not_equal(inner, outer);
		while (sqlite3_step(inner) == SQLITE_ROW)
			n_inner++;
		assert_int_equal(n_inner, 3);
		store_release(inner); /* not the cache's: finalized */
		assert_int_equal(sqlite3_column_int(outer, 0), n_outer); /* outer's row untouched */
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
	sqlite3 *db = open_rw();
	sqlite3_stmt *stmt;
	char *text = strdup("bound text");

	(void)state;
	stmt = prepare(db, "SELECT ?1, ?2");
	sqlite3_bind_int(stmt, 1, 42);
	sqlite3_bind_text(stmt, 2, text, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 42);
	store_release(stmt);
	free(text); /* a static binding must not outlive release */
	stmt = prepare(db, "SELECT ?1, ?2");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(stmt, 0), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_NULL);
	store_release(stmt);
	store_conn_close(db);
}

static void a_failed_statement_reports_its_error_and_is_not_kept(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *stmt;
	bbb_status st;
	int rc;

	(void)state;
	assert_int_equal(sqlite3_exec(db, "INSERT INTO u VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
	stmt = prepare(db, "INSERT INTO u VALUES (?)");
	sqlite3_bind_int(stmt, 1, 1);
	rc = sqlite3_step(stmt);
	store_release(stmt);
	assert_int_equal(rc, SQLITE_CONSTRAINT);
	/* The caller still reads the step's error from the connection. */
	assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_UNIQUE);
	assert_int_equal(store_fail(&st, db, rc, "insert"), -1);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
	assert_int_equal(stmt_cache_count(db), 0);
	assert_int_equal(live_statements(db), 0);
	/* The same text works again, with a fresh statement. */
	stmt = prepare(db, "INSERT INTO u VALUES (?)");
	sqlite3_bind_int(stmt, 1, 2);
	assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
	store_release(stmt);
	assert_int_equal(stmt_cache_count(db), 1);
	store_conn_close(db);
}

static void a_statement_given_back_mid_iteration_holds_no_snapshot(void **state)
{
	sqlite3 *reader, *writer = open_rw();
	sqlite3_stmt *stmt;
	bbb_status st;
	int logged = -1, done = -1;

	(void)state;
	assert_int_equal(store_conn_open(path, 1, 1, 5000, &reader, &st), 0);
	assert_int_equal(sqlite3_exec(writer, "INSERT INTO t VALUES (1), (2)", NULL, NULL, NULL), SQLITE_OK);
	stmt = prepare(reader, "SELECT v FROM t");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW); /* stopped on a row: a read transaction is open */
	store_release(stmt);
	assert_int_equal(sqlite3_exec(writer, "INSERT INTO t VALUES (3)", NULL, NULL, NULL), SQLITE_OK);
	/* A TRUNCATE checkpoint waits for no reader: the cached statement ended its read. */
	assert_int_equal(sqlite3_wal_checkpoint_v2(writer, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &done),
			 SQLITE_OK);
	assert_int_equal(logged, 0);
	/* And the reader sees the new row at its next use. */
	stmt = prepare(reader, "SELECT count(*) FROM t");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 3);
	store_release(stmt);
	store_conn_close(reader);
	store_conn_close(writer);
}

static void cached_statements_follow_schema_changes(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *stmt;
	bbb_status st;

	(void)state;
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(sqlite3_column_count(stmt), 1);
	store_release(stmt);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE t ADD COLUMN w TEXT", NULL, NULL, NULL), SQLITE_OK);
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
	assert_int_equal(sqlite3_column_count(stmt), 2);
	store_release(stmt);
	/* A cached statement does not lock its table against DROP. */
	assert_int_equal(sqlite3_exec(db, "DROP TABLE t", NULL, NULL, NULL), SQLITE_OK);
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ERROR); /* no such table: t */
	store_release(stmt);
	assert_int_equal(stmt_cache_count(db), 0);
	assert_int_equal(store_prepare(db, "SELECT * FROM t", &stmt, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "no such table"));
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (a, b, c)", NULL, NULL, NULL), SQLITE_OK);
	stmt = prepare(db, "SELECT * FROM t");
	assert_int_equal(sqlite3_column_count(stmt), 3);
	store_release(stmt);
	store_conn_close(db);
}

static void closing_finalizes_every_statement(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *lent, *own;

	(void)state;
	store_release(prepare(db, "SELECT 1"));
	store_release(prepare(db, "SELECT 2"));
	lent = prepare(db, "SELECT 3"); /* still lent when the connection goes */
	own = prepare(db, "SELECT 3");
	assert_int_equal(stmt_cache_count(db), 3);
	assert_int_equal(live_statements(db), 4);
	stmt_cache_detach(db);
	/* Only the statement the cache never held is left, for store_conn_close. */
	assert_int_equal(live_statements(db), 1);
	assert_ptr_equal(sqlite3_next_stmt(db, NULL), own);
	assert_ptr_not_equal(lent, own);
	assert_int_equal(stmt_cache_count(db), 0);
	/* Without a cache, statements are the caller's: release finalizes. */
	store_release(own);
	assert_null(sqlite3_next_stmt(db, NULL));
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	/* store_conn_close does all of it, lent statements included. */
	db = open_rw();
	store_release(prepare(db, "SELECT 1"));
	(void)prepare(db, "SELECT 2");
	(void)prepare(db, "SELECT 2");
	store_conn_close(db);
}

static void a_new_connection_gets_a_cache_of_its_own(void **state)
{
	sqlite3 *first = open_rw(), *second;
	sqlite3_stmt *stmt;

	(void)state;
	store_release(prepare(first, "SELECT 1"));
	store_conn_close(first);
	/* The allocator often hands the new connection the old one's address. */
	second = open_rw();
	assert_int_equal(stmt_cache_count(second), 0);
	stmt = prepare(second, "SELECT 1");
	assert_ptr_equal(sqlite3_db_handle(stmt), second);
	store_release(stmt);
	assert_int_equal(stmt_cache_count(second), 1);
	store_conn_close(second);
}

static void a_connection_not_opened_by_the_store_prepares_per_use(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *a;

	(void)state;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	a = prepare(db, "SELECT count(*) FROM t");
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	store_release(a);
	assert_null(sqlite3_next_stmt(db, NULL));
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void the_cache_is_bounded_and_texts_past_it_still_work(void **state)
{
	sqlite3 *db = open_rw();
	sqlite3_stmt *once;
	bbb_status st;
	char sql[64];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		sqlite3_stmt *stmt;

		snprintf(sql, sizeof(sql), "SELECT %d", i);
		stmt = prepare(db, sql);
		assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(stmt, 0), i);
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
	sqlite3 *ch_db;
	int ch_wrong; /* failed calls, or statements of another connection */
};

/* cmocka's assertions are not for other threads: this one counts. */
static void *churn_main(void *arg)
{
	struct churn *ch = arg;
	bbb_status st;

	for (int i = 0; i < 2000; i++) {
		sqlite3_stmt *stmt;

		if (store_prepare(ch->ch_db, i % 2 ? "SELECT 1" : "SELECT 2", &stmt, &st) != 0) {
			ch->ch_wrong++;
			continue;
		}
		ch->ch_wrong += sqlite3_db_handle(stmt) != ch->ch_db;
		ch->ch_wrong += sqlite3_step(stmt) != SQLITE_ROW;
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
		sqlite3 *db = open_rw();

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
		cmocka_unit_test_setup_teardown(a_connection_not_opened_by_the_store_prepares_per_use, setup, teardown),
		cmocka_unit_test_setup_teardown(the_cache_is_bounded_and_texts_past_it_still_work, setup, teardown),
		cmocka_unit_test_setup_teardown(
			threads_each_find_their_own_connections_cache_while_others_open_and_close, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
