/*
 * store/: the writer on PostgreSQL, two stores (two servers) on one database
 * (docs/scale-out.md, "Event ids and the order of the log"). What a reader
 * going by event id depends on: what it sees of `events` is a prefix of the
 * final order. Without the writers' advisory lock, a transaction that took a
 * larger id could commit while one holding a smaller id is still open, and a
 * reader would see the larger id first. And two servers raising the same
 * alert at once (docs/runtime.md, Breakers across servers): the insert that
 * loses the race on the unique index of open alerts bumps the other's alert
 * instead of failing. Run inside tests/pg/with_cluster.sh (PGDATABASE and the
 * rest from the environment).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "common/status.h"
#include "events/alerts.h"
#include "store/migrate.h"
#include "store/store.h"

static char target[256];

/* A write that appends one event and keeps its transaction open until told. */
struct held {
	pthread_mutex_t h_mu;
	pthread_cond_t h_cv;
	int h_inserted, h_release, h_done;
	int64_t h_id;
	struct store *h_store;
};

static int64_t insert_event(struct db *db, bbb_status *st)
{
	struct db_stmt *stmt;
	int64_t id = -1;
	int rc;

	if (store_prepare(db,
			  "INSERT INTO events (event_type, created_at, payload) VALUES ('test.order', 0, '\\x00') "
			  "RETURNING id",
			  &stmt, st) != 0)
		return -1;
	rc = store_step_insert(stmt, &id);
	store_release(stmt);
	if (rc != DB_DONE) {
		store_fail(st, db, rc, "insert event");
		return -1;
	}
	return id;
}

static int held_write(struct db *db, void *arg, bbb_status *st)
{
	struct held *h = arg;
	int64_t id = insert_event(db, st);

	pthread_mutex_lock(&h->h_mu);
	h->h_id = id;
	h->h_inserted = 1;
	pthread_cond_broadcast(&h->h_cv);
	while (!h->h_release)
		pthread_cond_wait(&h->h_cv, &h->h_mu);
	pthread_mutex_unlock(&h->h_mu);
	return id > 0 ? 0 : -1;
}

static int quick_write(struct db *db, void *arg, bbb_status *st)
{
	struct held *h = arg;

	h->h_id = insert_event(db, st);
	return h->h_id > 0 ? 0 : -1;
}

static void *writer_main(void *arg)
{
	struct held *h = arg;
	bbb_status st;
	int rc = store_write(h->h_store, h->h_release ? quick_write : held_write, h, 0, &st);

	pthread_mutex_lock(&h->h_mu);
	h->h_done = rc == 0 ? 1 : -1;
	pthread_cond_broadcast(&h->h_cv);
	pthread_mutex_unlock(&h->h_mu);
	return NULL;
}

static int64_t visible_head(void)
{
	struct db *db;
	struct db_stmt *stmt;
	bbb_status st;
	int64_t head = -1;

	assert_int_equal(store_conn_open(target, 1, 1, 5000, &db, &st), 0);
	assert_int_equal(store_prepare_once(db, "SELECT coalesce(max(id), 0) FROM events", &stmt, &st), 0);
	if (db_step(stmt) == DB_ROW)
		head = db_col_i64(stmt, 0);
	store_release(stmt);
	store_conn_close(db);
	return head;
}

static void a_reader_sees_a_prefix_of_the_ids_while_another_server_commits(void **state)
{
	struct store_options o = {.path = target, .durability_full = 1};
	struct held first = {.h_mu = PTHREAD_MUTEX_INITIALIZER, .h_cv = PTHREAD_COND_INITIALIZER};
	struct held second = {.h_mu = PTHREAD_MUTEX_INITIALIZER, .h_cv = PTHREAD_COND_INITIALIZER, .h_release = 1};
	struct store *a, *b;
	pthread_t ta, tb;
	bbb_status st;
	int second_done;

	(void)state;
	assert_int_equal(store_open(&a, &o, &st), 0);
	assert_int_equal(store_open(&b, &o, &st), 0);
	first.h_store = a;
	second.h_store = b;
	/* Server A appends an event (id N) and holds its transaction open. */
	assert_int_equal(pthread_create(&ta, NULL, writer_main, &first), 0);
	pthread_mutex_lock(&first.h_mu);
	while (!first.h_inserted)
		pthread_cond_wait(&first.h_cv, &first.h_mu);
	pthread_mutex_unlock(&first.h_mu);
	assert_true(first.h_id > 0);
	/* Server B appends one too, meanwhile. */
	assert_int_equal(pthread_create(&tb, NULL, writer_main, &second), 0);
	nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL);
	pthread_mutex_lock(&second.h_mu);
	second_done = second.h_done;
	pthread_mutex_unlock(&second.h_mu);
	/* B waits for A's commit: a reader sees neither event, not B's (N+1)
	 * without A's (N). */
	assert_int_equal(second_done, 0);
	assert_true(visible_head() < first.h_id);

	pthread_mutex_lock(&first.h_mu);
	first.h_release = 1;
	pthread_cond_broadcast(&first.h_cv);
	pthread_mutex_unlock(&first.h_mu);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(first.h_done, 1);
	assert_int_equal(second.h_done, 1);
	assert_true(second.h_id > first.h_id); /* ids in commit order */
	assert_int_equal(visible_head(), second.h_id);
	store_close(a);
	store_close(b);
}

static const struct alert_spec race_spec = {
	.as_code = "LLM_PROVIDER_UNAVAILABLE",
	.as_severity = BEEBEEBRAIN__V1__SEVERITY__SEVERITY_CRITICAL,
	.as_dedup_key = "LLM_PROVIDER_UNAVAILABLE:anthropic http://race",
	.as_title = "Circuit breaker open",
	.as_message = "raised by two servers at once",
	.as_trace_id = "",
};

/* A second server's raise, in a transaction of its own (no writer lock). */
struct raiser {
	struct db *r_db;
	int r_rc;
	enum alert_outcome r_how;
	bbb_status r_st;
};

static void *raiser_main(void *arg)
{
	struct raiser *r = arg;
	int64_t id = 0;

	status_clear(&r->r_st);
	if (db_exec(r->r_db, "BEGIN") != DB_OK) {
		r->r_rc = -1;
		return NULL;
	}
	r->r_rc = alert_raise(r->r_db, &race_spec, &id, &r->r_how, &r->r_st);
	if (db_exec(r->r_db, r->r_rc == 0 ? "COMMIT" : "ROLLBACK") != DB_OK)
		r->r_rc = -1;
	return NULL;
}

static int64_t query_i64(struct db *db, const char *sql)
{
	struct db_stmt *stmt;
	bbb_status st;
	int64_t v = -1;

	assert_int_equal(store_prepare_once(db, sql, &stmt, &st), 0);
	if (db_step(stmt) == DB_ROW)
		v = db_col_i64(stmt, 0);
	store_release(stmt);
	return v;
}

static void a_raise_that_loses_the_insert_race_bumps_the_alert_of_the_other_server(void **state)
{
	struct raiser b = {0};
	struct db *a, *q;
	pthread_t tb;
	enum alert_outcome how;
	int64_t id = 0;
	bbb_status st;
	int waited;

	(void)state;
	assert_int_equal(store_conn_open(target, 0, 1, 5000, &a, &st), 0);
	assert_int_equal(store_conn_open(target, 0, 1, 5000, &b.r_db, &st), 0);
	assert_int_equal(store_conn_open(target, 0, 1, 5000, &q, &st), 0);
	/* Server A inserts the alert and has not committed yet. */
	assert_int_equal(db_exec(a, "BEGIN"), DB_OK);
	assert_int_equal(alert_raise(a, &race_spec, &id, &how, &st), 0);
	assert_int_equal(how, ALERT_RAISED);
	/* Server B found none open, and its insert waits for A on the unique index. */
	assert_int_equal(pthread_create(&tb, NULL, raiser_main, &b), 0);
	for (waited = 0; waited < 1000; waited++) {
		if (query_i64(q, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
				 "wait_event_type = 'Lock'") == 1)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	assert_true(waited < 1000);
	assert_int_equal(db_exec(a, "COMMIT"), DB_OK);
	pthread_join(tb, NULL);
	/* B bumped A's alert: one open alert, raised twice, and no error. */
	assert_int_equal(b.r_rc, 0);
	assert_int_equal(b.r_how, ALERT_BUMPED);
	assert_int_equal(query_i64(q, "SELECT count(*) FROM alerts WHERE dedup_key = "
				      "'LLM_PROVIDER_UNAVAILABLE:anthropic http://race' AND status = 'open'"),
			 1);
	assert_int_equal(query_i64(q, "SELECT raise_count FROM alerts WHERE dedup_key = "
				      "'LLM_PROVIDER_UNAVAILABLE:anthropic http://race'"),
			 2);
	store_conn_close(a);
	store_conn_close(b.r_db);
	store_conn_close(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_reader_sees_a_prefix_of_the_ids_while_another_server_commits),
		cmocka_unit_test(a_raise_that_loses_the_insert_race_bumps_the_alert_of_the_other_server),
	};
	const char *name = getenv("PGDATABASE");
	struct migration_set set;
	struct db *db;
	bbb_status st;
	int applied;

	snprintf(target, sizeof(target), "dbname=%s", name != NULL ? name : "postgres");
	if (store_conn_open(target, 0, 1, 5000, &db, &st) != 0) {
		fprintf(stderr, "test_store_pg: %s (run it inside tests/pg/with_cluster.sh)\n", st.message);
		return 1;
	}
	set = migrate_builtin_for(db);
	if (migrate_up(db, &set, 0, &applied, &st) != 0) {
		fprintf(stderr, "test_store_pg: migrate: %s\n", st.message);
		return 1;
	}
	store_conn_close(db);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
