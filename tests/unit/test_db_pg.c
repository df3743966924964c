/*
 * store/db_pg.c: the PostgreSQL driver of db.h, against a real server. Run
 * inside a throw-away cluster (tests/pg/with_cluster.sh), which exports the
 * PG* variables: every connection here is store_pg_open(""), and every test
 * makes the tables it uses.
 *
 * What the store depends on: SQLite's `?` and `?N` mean the same on
 * PostgreSQL; every value comes back as it was bound; a kept statement is
 * prepared once and again only when the bound types change; rows, changes
 * and new ids read as on SQLite; a failed write inside a savepoint is undone
 * alone; each PostgreSQL failure gives the reason a client acts on; a lost
 * session fails every call until the caller reconnects; a deferred
 * connection starts its session at its first call; every request whose
 * answer is awaited counts as one round trip in /metrics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/dbuf.h"
#include "common/metrics.h"
#include "common/status.h"
#include "store/db_pg.h"
#include "store/store.h"

static struct db *pg_connect(void)
{
	struct db *db = NULL;
	bbb_status st;

	status_clear(&st);
	if (store_pg_open("", &db, &st) != 0)
		fail_msg("store_pg_open: %s %s (run through tests/pg/with_cluster.sh)", st.reason, st.message);
	assert_int_equal(db_kind(db), DB_POSTGRES);
	assert_null(db_sqlite(db));
	return db;
}

static void exec_ok(struct db *db, const char *sql)
{
	if (db_exec(db, sql) != DB_OK)
		fail_msg("%s: %s", sql, db_errmsg(db));
}

static struct db_stmt *prepare(struct db *db, const char *sql)
{
	struct db_stmt *s = NULL;
	bbb_status st;

	assert_int_equal(store_prepare(db, sql, &s, &st), 0);
	return s;
}

static struct db_stmt *prepare_once(struct db *db, const char *sql)
{
	struct db_stmt *s = NULL;
	bbb_status st;

	assert_int_equal(store_prepare_once(db, sql, &s, &st), 0);
	return s;
}

/* The one integer a query without parameters returns. */
static int64_t query_i64(struct db *db, const char *sql)
{
	struct db_stmt *s = prepare_once(db, sql);
	int64_t v;

	if (db_step(s) != DB_ROW)
		fail_msg("%s: %s", sql, db_errmsg(db));
	v = db_col_i64(s, 0);
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	return v;
}

/* The status store_fail makes of the step that failed on s (released). */
static void step_fails(struct db_stmt *s, const char *reason, int code)
{
	struct db *db = db_stmt_db(s);
	bbb_status st;
	int rc = db_step(s);

	assert_int_not_equal(rc, DB_ROW);
	assert_int_not_equal(rc, DB_DONE);
	assert_int_not_equal(db_errcode(db), DB_OK);
	assert_true(db_errmsg(db)[0] != '\0');
	status_clear(&st);
	assert_int_equal(store_fail(&st, db, rc, "the step"), -1);
	assert_string_equal(st.reason, reason);
	assert_int_equal(st.code, code);
	assert_true(strncmp(st.message, "the step: ", 10) == 0);
	store_release(s);
}

static void translate_ok(const char *sql, const char *want, int nparams)
{
	struct db_pg_sql q;
	const char *err = NULL;

	assert_int_equal(db_pg_translate(sql, &q, &err), 0);
	assert_string_equal(q.pq_text, want);
	assert_int_equal(q.pq_nparams, nparams);
	db_pg_sql_free(&q);
}

static void plain_and_numbered_parameters_become_dollar_numbers(void **state)
{
	(void)state;
	translate_ok("SELECT ?, ?, ?", "SELECT $1, $2, $3", 3);
	/* A plain ? takes the highest number so far + 1, as in SQLite. */
	translate_ok("SELECT ?2, ?, ?1", "SELECT $2, $3, $1", 3);
	translate_ok("SELECT ?, ?1, ?", "SELECT $1, $1, $2", 2);
	translate_ok("WHERE a = ?12 AND b = ?12", "WHERE a = $12 AND b = $12", 12);
	translate_ok("SELECT 1", "SELECT 1", 0);
	translate_ok("SELECT ?32766", "SELECT $32766", 32766);
	translate_ok("SELECT $1, ?", "SELECT $1, $1", 1);
}

static void parameters_inside_quotes_and_comments_stay_as_they_are(void **state)
{
	(void)state;
	translate_ok("SELECT '?', 'it''s ?', ?", "SELECT '?', 'it''s ?', $1", 1);
	translate_ok("SELECT \"a?\", \"b\"\"?\", ?", "SELECT \"a?\", \"b\"\"?\", $1", 1);
	translate_ok("SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2", 2);
	translate_ok("SELECT ? /* a? /* nested? */ still? */, ?", "SELECT $1 /* a? /* nested? */ still? */, $2", 2);
	translate_ok("SELECT E'\\'?', ?", "SELECT E'\\'?', $1", 1);
	/* Without the E a backslash is a plain character. */
	translate_ok("SELECT '\\', ?", "SELECT '\\', $1", 1);
	translate_ok("SELECT $$?$$, $q$ '? $q$, ?", "SELECT $$?$$, $q$ '? $q$, $1", 1);
	translate_ok("SELECT 'open ?", "SELECT 'open ?", 0);
	translate_ok("SELECT ? - -1, ?/2", "SELECT $1 - -1, $2/2", 2);
}

static void parameter_numbers_out_of_range_are_refused(void **state)
{
	const char *bad[] = {"SELECT ?0", "SELECT ?32767", "SELECT ?99999999999999999999"};
	struct db_pg_sql q;
	const char *err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		assert_int_equal(db_pg_translate(bad[i], &q, &err), -1);
		assert_non_null(err);
		db_pg_sql_free(&q);
	}
}

static void parameters_the_text_skips_are_known(void **state)
{
	struct db_pg_sql q;
	const char *err;

	(void)state;
	assert_int_equal(db_pg_translate("UPDATE t SET a = ?1 WHERE id = ?3", &q, &err), 0);
	assert_int_equal(q.pq_nparams, 3);
	assert_int_equal(q.pq_used[0], 1);
	assert_int_equal(q.pq_used[1], 0);
	assert_int_equal(q.pq_used[2], 1);
	db_pg_sql_free(&q);
}

static void a_bad_sql_parameter_number_fails_the_prepare(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s = NULL;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(store_prepare_once(db, "SELECT ?0", &s, &st), -1);
	assert_null(s);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "?1"));
	store_conn_close(db);
}

static void the_session_is_set_up_for_the_store(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s =
		prepare_once(db, "SELECT current_setting('TimeZone'), current_setting('client_encoding'), "
				 "current_setting('lock_timeout'), current_setting('standard_conforming_strings')");

	(void)state;
	assert_int_equal(db_step(s), DB_ROW);
	assert_string_equal(db_col_text(s, 0), "UTC");
	assert_string_equal(db_col_text(s, 1), "UTF8");
	assert_string_equal(db_col_text(s, 2), "5s");
	assert_string_equal(db_col_text(s, 3), "on");
	store_release(s);
	assert_int_equal(db_errcode(db), DB_OK);
	assert_string_equal(db_errmsg(db), "");
	store_conn_close(db);
}

static void integers_round_trip_to_their_bounds(void **state)
{
	const int64_t vals[] = {INT64_MIN, INT64_MIN + 1, -1, 0, 1, 4294967296LL, INT64_MAX};
	struct db *db = pg_connect();

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS rt_int; CREATE TABLE rt_int (n BIGINT, v BIGINT)");
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct db_stmt *s = prepare(db, "INSERT INTO rt_int (n, v) VALUES (?, ?)");

		assert_int_equal(db_bind_i64(s, 1, (int64_t)i), DB_OK);
		assert_int_equal(db_bind_i64(s, 2, vals[i]), DB_OK);
		assert_int_equal(db_step(s), DB_DONE);
		store_release(s);
	}
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct db_stmt *s = prepare(db, "SELECT v, v = ?2 FROM rt_int WHERE n = ?1");

		db_bind_i64(s, 1, (int64_t)i);
		db_bind_i64(s, 2, vals[i]);
		assert_int_equal(db_step(s), DB_ROW);
		assert_true(db_col_i64(s, 0) == vals[i]);
		assert_int_equal(db_col_int(s, 1), 1); /* a boolean reads as 1 */
		assert_false(db_col_is_null(s, 0));
		store_release(s);
	}
	store_conn_close(db);
}

static void doubles_round_trip_exactly(void **state)
{
	const double vals[] = {0.1, -0.5, 3.141592653589793, 1e300, -2.2250738585072014e-308, 1.0 / 3};
	struct db *db = pg_connect();

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct db_stmt *s = prepare(db, "SELECT ?1, ?1 * 2");

		assert_int_equal(db_bind_double(s, 1, vals[i]), DB_OK);
		assert_int_equal(db_step(s), DB_ROW);
		assert_true(db_col_double(s, 0) == vals[i]);
		assert_true(db_col_double(s, 1) == vals[i] * 2);
		store_release(s);
	}
	store_conn_close(db);
}

static void numbers_of_other_types_read_as_sqlite_casts_them(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s =
		prepare_once(db, "SELECT true, false, 2.75::float8, -2.75::float8, 1e30::float8, -1e30::float8, "
				 "12.5::numeric, sum(x), '42'::text, 'abc'::text, 'NaN'::float8, '-Infinity'::float8 "
				 "FROM (VALUES (1::bigint), (2)) v(x)");

	(void)state;
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_col_i64(s, 0), 1);
	assert_int_equal(db_col_i64(s, 1), 0);
	assert_true(db_col_double(s, 0) == 1.0);
	assert_int_equal(db_col_i64(s, 2), 2);
	assert_int_equal(db_col_i64(s, 3), -2);
	assert_true(db_col_i64(s, 4) == INT64_MAX);
	assert_true(db_col_i64(s, 5) == INT64_MIN);
	assert_int_equal(db_col_i64(s, 6), 12);
	assert_true(db_col_double(s, 6) == 12.5);
	assert_int_equal(db_col_i64(s, 7), 3); /* sum(bigint) is a numeric */
	assert_int_equal(db_col_i64(s, 8), 42);
	assert_int_equal(db_col_i64(s, 9), 0);
	assert_int_equal(db_col_i64(s, 10), 0);
	assert_true(db_col_i64(s, 11) == INT64_MIN);
	store_release(s);
	store_conn_close(db);
}

static void text_round_trips_with_quotes_utf8_and_empty(void **state)
{
	const char *vals[] = {"it's \"quoted\" ? ?1 $1 \\n", "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x90\x9d", ""};
	struct db *db = pg_connect();

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS rt_text; CREATE TABLE rt_text (n BIGINT, t TEXT)");
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct db_stmt *s = prepare(db, "INSERT INTO rt_text (n, t) VALUES (?, ?)");

		db_bind_i64(s, 1, (int64_t)i);
		/* Each way of handing text over. */
		if (i == 0)
			assert_int_equal(db_bind_text(s, 2, vals[i]), DB_OK);
		else if (i == 1)
			assert_int_equal(db_bind_text_copy(s, 2, vals[i]), DB_OK);
		else
			assert_int_equal(db_bind_text_owned(s, 2, strdup(vals[i])), DB_OK);
		assert_int_equal(db_step(s), DB_DONE);
		store_release(s);
	}
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct db_stmt *s = prepare(db, "SELECT t, length(t) FROM rt_text WHERE n = ?");

		db_bind_i64(s, 1, (int64_t)i);
		assert_int_equal(db_step(s), DB_ROW);
		assert_string_equal(db_col_text(s, 0), vals[i]);
		assert_int_equal(db_col_bytes(s, 0), strlen(vals[i]));
		assert_false(db_col_is_null(s, 0)); /* the empty text is not NULL */
		store_release(s);
	}
	store_conn_close(db);
}

static void blobs_round_trip_with_nul_bytes(void **state)
{
	static const unsigned char bin[] = {0, 'a', 0, 0xff, '\\', 'x', 0x80, 0};
	unsigned char *owned = malloc(sizeof(bin));
	struct db *db = pg_connect();
	struct db_stmt *s;
	const unsigned char *got;

	(void)state;
	memcpy(owned, bin, sizeof(bin));
	exec_ok(db, "DROP TABLE IF EXISTS rt_blob; CREATE TABLE rt_blob (n BIGINT, b BYTEA)");
	s = prepare(db, "INSERT INTO rt_blob (n, b) VALUES (?, ?), (? + 1, ?)");
	db_bind_i64(s, 1, 1);
	assert_int_equal(db_bind_blob(s, 2, bin, sizeof(bin)), DB_OK);
	db_bind_i64(s, 3, 1);
	assert_int_equal(db_bind_blob_owned(s, 4, owned, sizeof(bin)), DB_OK);
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	s = prepare(db, "INSERT INTO rt_blob (n, b) VALUES (3, ?)");
	assert_int_equal(db_bind_blob(s, 1, "", 0), DB_OK);
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);

	s = prepare(db, "SELECT b, length(b), b FROM rt_blob ORDER BY n");
	for (int row = 0; row < 2; row++) {
		assert_int_equal(db_step(s), DB_ROW);
		/* bytes before the blob, then two columns at once */
		assert_int_equal(db_col_bytes(s, 0), sizeof(bin));
		got = db_col_blob(s, 0);
		assert_memory_equal(got, bin, sizeof(bin));
		assert_memory_equal(db_col_blob(s, 2), bin, sizeof(bin));
		assert_ptr_equal(db_col_blob(s, 0), got);
		assert_int_equal(db_col_i64(s, 1), sizeof(bin));
	}
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_col_bytes(s, 0), 0);
	assert_false(db_col_is_null(s, 0)); /* an empty blob is not NULL */
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	store_conn_close(db);
}

static void nulls_bind_and_read_as_db_h_says(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS rt_null; "
		    "CREATE TABLE rt_null (i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA)");
	s = prepare(db, "INSERT INTO rt_null (i, d, t, b) VALUES (?, ?, ?, ?)");
	assert_int_equal(db_bind_null(s, 1), DB_OK);
	/* ?2 left unbound is NULL too */
	assert_int_equal(db_bind_text(s, 3, NULL), DB_OK);
	assert_int_equal(db_bind_blob(s, 4, NULL, 0), DB_OK);
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	s = prepare(db, "SELECT i, d, t, b FROM rt_null");
	assert_int_equal(db_step(s), DB_ROW);
	for (int col = 0; col < 4; col++) {
		assert_true(db_col_is_null(s, col));
		assert_int_equal(db_col_i64(s, col), 0);
		assert_true(db_col_double(s, col) == 0.0);
		assert_null(db_col_text(s, col));
		assert_int_equal(db_col_bytes(s, col), 0);
	}
	/* No such column reads as NULL. */
	assert_true(db_col_is_null(s, 4));
	assert_null(db_col_text(s, -1));
	store_release(s);
	store_conn_close(db);
}

/* Named statements of db's session: how many, and the parameter types of
 * the newest, as PostgreSQL shows them ("{bigint}"). */
static int64_t named_statements(struct db *db, char *types, size_t n)
{
	struct db_stmt *s = prepare_once(db, "SELECT count(*) OVER (), parameter_types::text "
					     "FROM pg_prepared_statements WHERE name LIKE 'bbb%' "
					     "ORDER BY prepare_time DESC, substr(name, 5)::bigint DESC LIMIT 1");
	int64_t count = 0;

	types[0] = '\0';
	if (db_step(s) == DB_ROW) {
		count = db_col_i64(s, 0);
		snprintf(types, n, "%s", db_col_text(s, 1));
	}
	store_release(s);
	return count;
}

/* Runs "SELECT ?1" (kept) with the value bind() binds; its text. */
static void run_select(struct db *db, int kind, const char *want)
{
	struct db_stmt *s = prepare(db, "SELECT ?1");

	if (kind == 'i')
		db_bind_i64(s, 1, 7);
	else if (kind == 'd')
		db_bind_double(s, 1, 2.5);
	else if (kind == 't')
		db_bind_text(s, 1, "seven");
	assert_int_equal(db_step(s), DB_ROW);
	if (want == NULL)
		assert_true(db_col_is_null(s, 0));
	else
		assert_string_equal(db_col_text(s, 0), want);
	store_release(s);
}

static void a_kept_statement_is_prepared_once_and_again_on_a_type_change(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *first, *again;
	char types[64];

	(void)state;
	assert_int_equal(named_statements(db, types, sizeof(types)), 0);
	first = prepare(db, "SELECT ?1");
	store_release(first);
	/* Nothing goes to the server before the first step. */
	assert_int_equal(named_statements(db, types, sizeof(types)), 0);

	run_select(db, 'i', "7");
	run_select(db, 'i', "7");
	again = prepare(db, "SELECT ?1");
	assert_ptr_equal(again, first);
	store_release(again);
	assert_int_equal(named_statements(db, types, sizeof(types)), 1);
	assert_string_equal(types, "{bigint}");

	/* A NULL goes with the type the statement has. */
	run_select(db, 'n', NULL);
	assert_int_equal(named_statements(db, types, sizeof(types)), 1);

	/* Another type: a statement of its own, the old one dropped once no
	 * transaction is open (the query counting them is the moment). */
	run_select(db, 'd', "2.5");
	assert_int_equal(named_statements(db, types, sizeof(types)), 1);
	assert_string_equal(types, "{\"double precision\"}");
	run_select(db, 't', "seven");
	assert_int_equal(named_statements(db, types, sizeof(types)), 1);
	assert_string_equal(types, "{text}");
	run_select(db, 'i', "7");
	assert_int_equal(named_statements(db, types, sizeof(types)), 1);
	assert_string_equal(types, "{bigint}");
	store_conn_close(db);
}

static void a_statement_that_failed_leaves_no_named_statement_behind(void **state)
{
	struct db *db = pg_connect();
	char types[64];

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS fails; CREATE TABLE fails (k BIGINT UNIQUE); INSERT INTO fails VALUES (1)");
	for (int i = 0; i < 3; i++) {
		struct db_stmt *s = prepare(db, "INSERT INTO fails (k) VALUES (?)");

		db_bind_i64(s, 1, 1);
		step_fails(s, "RESOURCE_CONFLICT", BBB_ALREADY_EXISTS);
	}
	assert_int_equal(named_statements(db, types, sizeof(types)), 0);
	store_conn_close(db);
}

static void parameters_the_sql_does_not_use_need_no_type(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;

	(void)state;
	/* ?2 is never named: left unbound, or bound to a blob, it is ignored. */
	for (int keep = 0; keep < 2; keep++) {
		s = keep ? prepare(db, "SELECT ?1::bigint + ?3::bigint") : prepare_once(db, "SELECT ?1 + ?3");
		db_bind_i64(s, 1, 40);
		if (keep)
			db_bind_blob(s, 2, "\xff", 1);
		db_bind_i64(s, 3, 2);
		assert_int_equal(db_step(s), DB_ROW);
		assert_int_equal(db_col_i64(s, 0), 42);
		store_release(s);
	}
	/* A parameter the statement does not have: an error, and nothing else. */
	s = prepare(db, "SELECT ?1");
	assert_int_not_equal(db_bind_i64(s, 2, 1), DB_OK);
	assert_int_not_equal(db_bind_text_owned(s, 0, strdup("freed")), DB_OK);
	db_bind_i64(s, 1, 5);
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_col_i64(s, 0), 5);
	store_release(s);
	store_conn_close(db);
}

static void rows_come_one_per_step_then_done(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS seq; CREATE TABLE seq (v BIGINT)");
	for (int run = 0; run < 2; run++) {
		s = prepare(db, "SELECT g FROM generate_series(1, ?) g");
		db_bind_i64(s, 1, 3);
		for (int i = 1; i <= 3; i++) {
			assert_int_equal(db_step(s), DB_ROW);
			assert_int_equal(db_col_i64(s, 0), i);
		}
		assert_int_equal(db_step(s), DB_DONE);
		assert_int_equal(db_step(s), DB_DONE);
		assert_null(db_col_text(s, 0)); /* no row */
		store_release(s);
	}
	s = prepare(db, "SELECT v FROM seq");
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	s = prepare(db, "INSERT INTO seq VALUES (1)");
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	store_conn_close(db);
}

static void changes_count_the_last_write_only(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS ch; CREATE TABLE ch (v BIGINT); INSERT INTO ch VALUES (1), (2), (3)");
	assert_int_equal(db_changes(db), 3);
	s = prepare(db, "UPDATE ch SET v = v + 10 WHERE v >= ?");
	db_bind_i64(s, 1, 2);
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	assert_int_equal(db_changes(db), 2);
	/* A SELECT is not a change. */
	assert_int_equal(query_i64(db, "SELECT count(*) FROM ch"), 3);
	assert_int_equal(db_changes(db), 2);
	s = prepare(db, "DELETE FROM ch WHERE v = ? RETURNING v");
	db_bind_i64(s, 1, 1);
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	assert_int_equal(db_changes(db), 1);
	s = prepare(db, "UPDATE ch SET v = 0 WHERE v < 0");
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
	assert_int_equal(db_changes(db), 0);
	store_conn_close(db);
}

static int64_t insert_named(struct db *db, const char *name)
{
	struct db_stmt *s = prepare(db, "INSERT INTO ids (name) VALUES (?) RETURNING id");
	int64_t id = 0;

	db_bind_text(s, 1, name);
	assert_int_equal(store_step_insert(s, &id), DB_DONE);
	store_release(s);
	return id;
}

/* The process's beebeebrain_store_round_trips_total, as /metrics shows it. */
static int64_t round_trips(void)
{
	/* The sample's line, not the HELP line that names it too. */
	static const char name[] = "\nbeebeebrain_store_round_trips_total ";
	struct dbuf out;
	const char *line;
	int64_t v;

	dbuf_init(&out, (size_t)1 << 20);
	assert_int_equal(metrics_render(metrics_default(), NULL, &out), 0);
	line = strstr(dbuf_str(&out), name);
	if (line == NULL)
		fail_msg("no %s sample in:\n%s", name, dbuf_str(&out));
	v = strtoll(line + strlen(name), NULL, 10);
	dbuf_free(&out);
	return v;
}

static void step_done(struct db_stmt *s)
{
	assert_int_equal(db_step(s), DB_DONE);
	store_release(s);
}

static void every_request_awaited_is_one_round_trip(void **state)
{
	struct db *db, *other;
	struct db_stmt *s;
	int64_t before = round_trips();

	(void)state;
	/* The session's setup. */
	db = pg_connect();
	assert_int_equal(round_trips() - before, 1);
	exec_ok(db, "CREATE TEMP TABLE trips (id BIGINT GENERATED ALWAYS AS IDENTITY, v BIGINT, t TEXT)");
	assert_int_equal(round_trips() - before, 2);

	/* A kept statement: nothing until its first step, then PREPARE and
	 * EXECUTE; later runs EXECUTE alone. */
	s = prepare(db, "INSERT INTO trips (v) VALUES (?)");
	db_bind_i64(s, 1, 1);
	assert_int_equal(round_trips() - before, 2);
	step_done(s);
	assert_int_equal(round_trips() - before, 4);
	s = prepare(db, "INSERT INTO trips (v) VALUES (?)");
	db_bind_i64(s, 1, 2);
	step_done(s);
	assert_int_equal(round_trips() - before, 5);

	/* Another type: prepared again; the old statement's DEALLOCATE goes
	 * before the next request, a round trip of its own. */
	s = prepare(db, "SELECT ?1");
	db_bind_i64(s, 1, 3);
	assert_int_equal(db_step(s), DB_ROW);
	step_done(s);
	s = prepare(db, "SELECT ?1");
	db_bind_text(s, 1, "three");
	assert_int_equal(db_step(s), DB_ROW);
	step_done(s);
	assert_int_equal(round_trips() - before, 9);
	exec_ok(db, "SELECT 1");
	assert_int_equal(round_trips() - before, 11);

	/* A statement run once, read row by row: one. Several statements in
	 * one exec: one. A failed statement: one. */
	s = prepare_once(db, "SELECT v FROM trips ORDER BY id");
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_step(s), DB_ROW);
	step_done(s);
	assert_int_equal(round_trips() - before, 12);
	exec_ok(db, "BEGIN; INSERT INTO trips (v) VALUES (4); COMMIT");
	assert_int_equal(round_trips() - before, 13);
	assert_int_not_equal(db_exec(db, "SELECT no_such_column FROM trips"), DB_OK);
	assert_int_equal(round_trips() - before, 14);

	/* Every connection of the process counts into the one total. */
	other = pg_connect();
	exec_ok(other, "SELECT 1");
	assert_int_equal(round_trips() - before, 16);
	store_conn_close(other);
	store_conn_close(db);
}

/* The store's inserts (store_step_insert): the new id from the INSERT's own
 * result, inside a transaction too, without a round trip of its own. */
static void an_insert_returning_its_id_costs_one_round_trip(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;
	int64_t id = 0, before;

	(void)state;
	exec_ok(db, "CREATE TEMP TABLE ret (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT UNIQUE)");
	s = prepare(db, "INSERT INTO ret (name) VALUES (?) RETURNING id");
	db_bind_text(s, 1, "a");
	assert_int_equal(store_step_insert(s, &id), DB_DONE);
	store_release(s);
	assert_int_equal(id, 1);

	exec_ok(db, "BEGIN");
	before = round_trips();
	s = prepare(db, "INSERT INTO ret (name) VALUES (?) RETURNING id");
	db_bind_text(s, 1, "b");
	assert_int_equal(store_step_insert(s, &id), DB_DONE);
	store_release(s);
	assert_int_equal(round_trips() - before, 1);
	assert_int_equal(id, 2);
	assert_int_equal(db_changes(db), 1);

	/* A failed insert leaves the id as it was. */
	s = prepare(db, "INSERT INTO ret (name) VALUES (?) RETURNING id");
	db_bind_text(s, 1, "b");
	assert_int_not_equal(store_step_insert(s, &id), DB_DONE);
	store_release(s);
	assert_int_equal(id, 2);
	exec_ok(db, "ROLLBACK");
	store_conn_close(db);
}

struct dup_arg {
	const char *name;
};

static int insert_write(struct db *db, void *arg, bbb_status *st)
{
	struct dup_arg *a = arg;
	struct db_stmt *s = prepare(db, "INSERT INTO ids (name) VALUES (?)");
	int rc;

	db_bind_text(s, 1, a->name);
	rc = db_step(s);
	store_release(s);
	return rc == DB_DONE ? 0 : store_fail(st, db, rc, "insert");
}

static void a_failed_write_in_a_savepoint_is_undone_alone(void **state)
{
	struct db *db = pg_connect();
	struct dup_arg a = {"first"}, dup = {"first"}, b = {"second"};
	struct db_stmt *s;
	bbb_status st;
	int64_t id;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS ids; "
		    "CREATE TABLE ids (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT UNIQUE)");
	exec_ok(db, "BEGIN");
	status_clear(&st);
	assert_int_equal(store_savepoint(db, "w", insert_write, &a, &st), STORE_SP_OK);
	assert_int_equal(store_savepoint(db, "w", insert_write, &dup, &st), STORE_SP_FAILED);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
	status_clear(&st);
	assert_int_equal(store_savepoint(db, "w", insert_write, &b, &st), STORE_SP_OK);
	exec_ok(db, "COMMIT");
	assert_int_equal(db_in_transaction(db), 0);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM ids WHERE name IN ('first', 'second')"), 2);

	/* By hand: after an error the transaction refuses everything, and is
	 * still a transaction, until ROLLBACK TO. */
	exec_ok(db, "BEGIN; SAVEPOINT w");
	s = prepare(db, "INSERT INTO ids (name) VALUES (?)");
	db_bind_text(s, 1, "first");
	step_fails(s, "RESOURCE_CONFLICT", BBB_ALREADY_EXISTS);
	assert_int_equal(db_in_transaction(db), 1);
	assert_int_equal(db_errcode(db), db_pg_errcode("23505"));
	assert_int_not_equal(db_exec(db, "SELECT 1"), DB_OK);
	assert_int_equal(db_errcode(db), db_pg_errcode("25P02")); /* in_failed_sql_transaction */
	assert_int_equal(db_in_transaction(db), 1);
	exec_ok(db, "ROLLBACK TO w; RELEASE w");
	/* (a failed insert used an id too: sequences are not rolled back) */
	id = insert_named(db, "third");
	assert_int_equal(id, query_i64(db, "SELECT id FROM ids WHERE name = 'third'"));
	exec_ok(db, "COMMIT");
	assert_int_equal(query_i64(db, "SELECT count(*) FROM ids"), 3);
	store_conn_close(db);
}

static void each_sqlstate_maps_to_the_reason_a_client_acts_on(void **state)
{
	static const char *map[][2] = {
		{"23505", "RESOURCE_CONFLICT"}, {"40001", "DB_LOCKED"},      {"40P01", "DB_LOCKED"},
		{"55P03", "DB_LOCKED"},         {"53100", "DISK_FULL"},      {"25006", "DB_READ_ONLY"},
		{"08000", "DB_UNAVAILABLE"},    {"08006", "DB_UNAVAILABLE"}, {"08001", "DB_UNAVAILABLE"},
		{"57P01", "DB_UNAVAILABLE"},    {"57P02", "DB_UNAVAILABLE"}, {"57P03", "DB_UNAVAILABLE"},
		{"XX001", "DB_CORRUPT"},        {"XX002", "DB_CORRUPT"},     {"XX000", "INTERNAL_ERROR"},
		{"23503", "INTERNAL_ERROR"},    {"42601", "INTERNAL_ERROR"}, {"57014", "INTERNAL_ERROR"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_string_equal(db_pg_reason(map[i][0]), map[i][1]);
	/* The reasons are the server's: each has its code. */
	assert_int_equal(status_code_of_reason("DB_UNAVAILABLE"), BBB_UNAVAILABLE);
	assert_int_equal(db_pg_errcode("00000"), DB_OK);
	assert_int_not_equal(db_pg_errcode("23505"), db_pg_errcode("23503"));
	assert_int_not_equal(db_pg_errcode("40001"), DB_OK);
}

static void a_lock_held_past_the_lock_timeout_is_db_locked(void **state)
{
	struct db *a = pg_connect(), *b = pg_connect();
	struct db_stmt *s;

	(void)state;
	exec_ok(a, "DROP TABLE IF EXISTS lk; CREATE TABLE lk (id BIGINT PRIMARY KEY, v BIGINT); "
		   "INSERT INTO lk VALUES (1, 0)");
	exec_ok(a, "BEGIN; UPDATE lk SET v = 1 WHERE id = 1");
	exec_ok(b, "SET lock_timeout = '50ms'");
	s = prepare(b, "UPDATE lk SET v = 2 WHERE id = ?");
	db_bind_i64(s, 1, 1);
	step_fails(s, "DB_LOCKED", BBB_UNAVAILABLE);
	assert_int_equal(db_errcode(b), db_pg_errcode("55P03"));
	exec_ok(a, "COMMIT");
	store_conn_close(b);
	store_conn_close(a);
}

static void a_serialization_failure_is_db_locked(void **state)
{
	struct db *a = pg_connect(), *b = pg_connect();
	struct db_stmt *s;

	(void)state;
	exec_ok(a, "DROP TABLE IF EXISTS ser; CREATE TABLE ser (id BIGINT PRIMARY KEY, v BIGINT); "
		   "INSERT INTO ser VALUES (1, 0)");
	exec_ok(a, "BEGIN ISOLATION LEVEL REPEATABLE READ");
	assert_int_equal(query_i64(a, "SELECT v FROM ser WHERE id = 1"), 0);
	exec_ok(b, "UPDATE ser SET v = 5 WHERE id = 1");
	s = prepare(a, "UPDATE ser SET v = v + 1 WHERE id = ?");
	db_bind_i64(s, 1, 1);
	step_fails(s, "DB_LOCKED", BBB_UNAVAILABLE);
	exec_ok(a, "ROLLBACK");
	store_conn_close(b);
	store_conn_close(a);
}

static void a_write_in_a_read_only_transaction_is_db_read_only(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS ro; CREATE TABLE ro (v BIGINT)");
	exec_ok(db, "BEGIN READ ONLY");
	s = prepare(db, "INSERT INTO ro VALUES (?)");
	db_bind_i64(s, 1, 1);
	step_fails(s, "DB_READ_ONLY", BBB_FAILED_PRECONDITION);
	exec_ok(db, "ROLLBACK");
	store_conn_close(db);
}

static void other_errors_are_internal_with_the_server_message(void **state)
{
	struct db *db = pg_connect();
	bbb_status st;
	int rc;

	(void)state;
	step_fails(prepare_once(db, "SELECT * FROM no_such_table WHERE id = ?"), "INTERNAL_ERROR", BBB_INTERNAL);
	rc = db_exec(db, "SELEKT 1");
	assert_int_not_equal(rc, DB_OK);
	assert_int_equal(db_errcode(db), db_pg_errcode("42601"));
	status_clear(&st);
	store_fail(&st, db, rc, "exec");
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "exec: syntax error"));
	/* The next call that works clears the error. */
	exec_ok(db, "SELECT 1");
	assert_int_equal(db_errcode(db), DB_OK);
	assert_string_equal(db_errmsg(db), "");
	store_conn_close(db);
}

/* Ends db's session from another one, and waits until it is gone. */
static void terminate(struct db *db)
{
	struct db *killer = pg_connect();
	int64_t pid = query_i64(db, "SELECT pg_backend_pid()");
	struct db_stmt *s = prepare_once(killer, "SELECT pg_terminate_backend(?::int, 10000)");

	db_bind_i64(s, 1, pid);
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_col_i64(s, 0), 1);
	store_release(s);
	store_conn_close(killer);
}

static void a_session_lost_inside_a_transaction_fails_every_call_until_the_transaction_ends(void **state)
{
	struct db *db = pg_connect();
	struct db_stmt *s;
	bbb_status st;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS gone; CREATE TABLE gone (v BIGINT)");
	assert_int_equal(store_pg_configure(db, "SET lock_timeout = 1234", &st), 0);
	run_select(db, 'i', "7"); /* a kept statement, named in this session */
	exec_ok(db, "BEGIN; INSERT INTO gone VALUES (1)");
	terminate(db);

	s = prepare(db, "INSERT INTO gone VALUES (?)");
	db_bind_i64(s, 1, 2);
	step_fails(s, "DB_UNAVAILABLE", BBB_UNAVAILABLE);
	/* The transaction went with the session: none is open. */
	assert_int_equal(db_in_transaction(db), 0);
	/* Its later statements must not run by themselves in a new session. */
	s = prepare(db, "INSERT INTO gone VALUES (?)");
	db_bind_i64(s, 1, 3);
	step_fails(s, "DB_UNAVAILABLE", BBB_UNAVAILABLE);
	assert_int_not_equal(db_exec(db, "SAVEPOINT w"), DB_OK);
	assert_string_equal(db_pg_reason("08006"), "DB_UNAVAILABLE");
	assert_int_equal(db_errcode(db), db_pg_errcode("08006"));
	assert_non_null(strstr(db_errmsg(db), "transaction under way"));

	/* Its ROLLBACK ends it; the next call starts a new session, set up as
	 * the first (ours and the caller's settings), kept statements prepared
	 * again, and nothing of the lost transaction there. */
	assert_int_equal(db_exec(db, "ROLLBACK"), DB_OK);
	run_select(db, 'i', "7");
	assert_int_equal(db_errcode(db), DB_OK);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM gone"), 0);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM pg_prepared_statements"), 1);
	s = prepare_once(db, "SELECT current_setting('TimeZone') || ' ' || current_setting('lock_timeout')");
	assert_int_equal(db_step(s), DB_ROW);
	assert_string_equal(db_col_text(s, 0), "UTC 1234ms");
	store_release(s);

	/* Lost inside a transaction again: a new BEGIN (the writer's next group)
	 * also ends the lost one, in a new session. */
	exec_ok(db, "BEGIN; INSERT INTO gone VALUES (4)");
	terminate(db);
	assert_int_not_equal(db_exec(db, "INSERT INTO gone VALUES (5)"), DB_OK);
	exec_ok(db, "BEGIN; INSERT INTO gone VALUES (6); COMMIT");
	assert_int_equal(query_i64(db, "SELECT sum(v) FROM gone"), 6);
	store_conn_close(db);
}

static void a_session_ended_between_transactions_is_replaced_before_the_next_call(void **state)
{
	struct db *db = pg_connect();
	int64_t pid = query_i64(db, "SELECT pg_backend_pid()");

	(void)state;
	run_select(db, 'i', "7");
	terminate(db); /* returns once the session is over: its end is on the socket */
	/* Seen before the call, which runs in a new session, set up again. */
	run_select(db, 'i', "7");
	assert_int_not_equal(query_i64(db, "SELECT pg_backend_pid()"), pid);
	assert_int_equal(query_i64(db, "SELECT count(*) FROM pg_prepared_statements"), 1);
	store_conn_close(db);
}

static void a_session_lost_inside_a_write_loses_the_transaction(void **state)
{
	struct db *db = pg_connect();
	struct dup_arg a = {"x"};
	bbb_status st;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS ids; "
		    "CREATE TABLE ids (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name TEXT UNIQUE)");
	exec_ok(db, "BEGIN");
	terminate(db);
	status_clear(&st);
	/* Lost, not failed: nothing since BEGIN will commit. */
	assert_int_equal(store_savepoint(db, "w", insert_write, &a, &st), STORE_SP_TX_LOST);
	assert_string_equal(st.reason, "DB_UNAVAILABLE");
	assert_int_equal(db_in_transaction(db), 0);
	store_conn_close(db);
}

/* store_pg_open's failure for conninfo, which must not show `secret`. */
static void open_fails(const char *conninfo, const char *secret)
{
	struct db *db = (struct db *)&db;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(store_pg_open(conninfo, &db, &st), -1);
	assert_null(db);
	assert_string_equal(st.reason, "DB_UNAVAILABLE");
	assert_int_equal(st.code, BBB_UNAVAILABLE);
	assert_true(strncmp(st.message, "cannot connect to PostgreSQL: ", 30) == 0);
	assert_true(strlen(st.message) > 30);
	assert_null(strchr(st.message, '\n'));
	if (secret != NULL)
		assert_null(strstr(st.message, secret));
}

static void a_server_out_of_reach_or_a_wrong_password_is_db_unavailable(void **state)
{
	(void)state;
	open_fails("host=127.0.0.1 port=1 connect_timeout=5", NULL);
	open_fails("host=/nonexistent-bbb-socket-dir", NULL);
	open_fails("password=wrong-secret-71c3", "wrong-secret-71c3");
	open_fails("postgres://nobody-bbb:wrong-secret-9a2e@/postgres", "wrong-secret-9a2e");
}

/* The client sessions of the cluster's current database, seen from `seer`
 * (whose own is one of them). */
static int64_t sessions(struct db *seer)
{
	return query_i64(seer, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
			       "AND datname = current_database()");
}

static void a_deferred_connection_starts_its_session_at_its_first_call(void **state)
{
	struct db *seer = pg_connect(), *db;
	int64_t before = sessions(seer);
	struct db_stmt *s;
	bbb_status st;

	(void)state;
	db = store_pg_open_deferred("");
	assert_int_equal(db_kind(db), DB_POSTGRES);
	status_clear(&st);
	/* Kept for the session to come; nothing goes to the server yet. */
	assert_int_equal(store_pg_configure(db, "SET lock_timeout = 4321", &st), 0);
	assert_int_equal(db_in_transaction(db), 0);
	assert_int_equal(db_exec(db, "ROLLBACK"), DB_OK);
	assert_int_equal(sessions(seer), before);

	/* The first call starts it, set up as store_pg_open's are, with the
	 * caller's settings. */
	s = prepare_once(db, "SELECT current_setting('TimeZone') || ' ' || current_setting('lock_timeout')");
	assert_int_equal(db_step(s), DB_ROW);
	assert_string_equal(db_col_text(s, 0), "UTC 4321ms");
	store_release(s);
	assert_int_equal(sessions(seer), before + 1);
	run_select(db, 'i', "7");
	assert_int_equal(sessions(seer), before + 1);
	store_conn_close(db);
	store_conn_close(seer);
}

static void a_deferred_connection_out_of_reach_fails_its_calls_as_db_unavailable(void **state)
{
	struct db *db = store_pg_open_deferred("host=/nonexistent-bbb-socket-dir");

	(void)state;
	step_fails(prepare_once(db, "SELECT 1"), "DB_UNAVAILABLE", BBB_UNAVAILABLE);
	assert_true(strncmp(db_errmsg(db), "cannot connect to PostgreSQL: ", 30) == 0);
	assert_int_equal(store_pg_failing(db), 1);
	/* Within the second after a failed attempt, the next call fails alike
	 * without one; the connection stays usable for later attempts. */
	assert_int_not_equal(db_exec(db, "SELECT 1"), DB_OK);
	assert_int_equal(db_errcode(db), db_pg_errcode("08006"));
	assert_int_equal(db_in_transaction(db), 0);
	store_conn_close(db);
}

static void a_session_whose_setup_failed_is_never_used_and_the_next_attempt_waits(void **state)
{
	struct db *db = store_pg_open_deferred("");
	bbb_status st;

	(void)state;
	assert_int_equal(store_pg_failing(db), 0); /* not tried yet: ready */
	/* Settings the server refuses: the session they were for is closed, not
	 * used without them. */
	status_clear(&st);
	assert_int_equal(store_pg_configure(db, "SET lock_timeout = 'not a duration'", &st), 0);
	step_fails(prepare_once(db, "SELECT 1"), "DB_UNAVAILABLE", BBB_UNAVAILABLE);
	assert_non_null(strstr(db_errmsg(db), "cannot set up the PostgreSQL session"));
	assert_int_equal(store_pg_failing(db), 1);
	assert_int_not_equal(db_exec(db, "SELECT 1"), DB_OK);
	assert_int_equal(db_errcode(db), db_pg_errcode("08006"));
	assert_int_equal(store_pg_failing(db), 1);
	store_conn_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_and_numbered_parameters_become_dollar_numbers),
		cmocka_unit_test(parameters_inside_quotes_and_comments_stay_as_they_are),
		cmocka_unit_test(parameter_numbers_out_of_range_are_refused),
		cmocka_unit_test(parameters_the_text_skips_are_known),
		cmocka_unit_test(a_bad_sql_parameter_number_fails_the_prepare),
		cmocka_unit_test(the_session_is_set_up_for_the_store),
		cmocka_unit_test(integers_round_trip_to_their_bounds),
		cmocka_unit_test(doubles_round_trip_exactly),
		cmocka_unit_test(numbers_of_other_types_read_as_sqlite_casts_them),
		cmocka_unit_test(text_round_trips_with_quotes_utf8_and_empty),
		cmocka_unit_test(blobs_round_trip_with_nul_bytes),
		cmocka_unit_test(nulls_bind_and_read_as_db_h_says),
		cmocka_unit_test(a_kept_statement_is_prepared_once_and_again_on_a_type_change),
		cmocka_unit_test(a_statement_that_failed_leaves_no_named_statement_behind),
		cmocka_unit_test(parameters_the_sql_does_not_use_need_no_type),
		cmocka_unit_test(rows_come_one_per_step_then_done),
		cmocka_unit_test(changes_count_the_last_write_only),
		cmocka_unit_test(every_request_awaited_is_one_round_trip),
		cmocka_unit_test(an_insert_returning_its_id_costs_one_round_trip),
		cmocka_unit_test(a_failed_write_in_a_savepoint_is_undone_alone),
		cmocka_unit_test(each_sqlstate_maps_to_the_reason_a_client_acts_on),
		cmocka_unit_test(a_lock_held_past_the_lock_timeout_is_db_locked),
		cmocka_unit_test(a_serialization_failure_is_db_locked),
		cmocka_unit_test(a_write_in_a_read_only_transaction_is_db_read_only),
		cmocka_unit_test(other_errors_are_internal_with_the_server_message),
		cmocka_unit_test(a_session_lost_inside_a_transaction_fails_every_call_until_the_transaction_ends),
		cmocka_unit_test(a_session_ended_between_transactions_is_replaced_before_the_next_call),
		cmocka_unit_test(a_session_lost_inside_a_write_loses_the_transaction),
		cmocka_unit_test(a_server_out_of_reach_or_a_wrong_password_is_db_unavailable),
		cmocka_unit_test(a_deferred_connection_starts_its_session_at_its_first_call),
		cmocka_unit_test(a_deferred_connection_out_of_reach_fails_its_calls_as_db_unavailable),
		cmocka_unit_test(a_session_whose_setup_failed_is_never_used_and_the_next_attempt_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
