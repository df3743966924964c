/*
 * The reads of the events table (store/event_store.c, and triage's count of
 * retries in store/triage_store.c) on a database migrated to the binary's
 * schema: every one of them is an index search, never a scan of the table
 * (the table is the largest of the schema and grows with every call), and
 * the two that lean on ids growing with time, retention and triage's hour,
 * take the events they should.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_db.h"

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/status.h"
#include "events/emit.h"
#include "store/event_store.h"
#include "store/migrate.h"
#include "store/state_store.h"
#include "store/store.h"
#include "store/triage_store.h"

#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define MIN_MS (60 * 1000)
#define TRACED_MAX 32

struct fixture {
	char dir[UNIT_DB_DIR_MAX];
	struct db *db;
	struct arena a;
	char *traced[TRACED_MAX]; /* distinct SQL run on events, malloc'd */
	int n_traced;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	unit_db_open(f->dir, "evstore", &f->db);
	arena_init(&f->a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	for (int i = 0; i < f->n_traced; i++)
		free(f->traced[i]);
	arena_reset(&f->a);
	rc = unit_db_close(f->dir, f->db);
	free(f);
	return rc;
}

static void exec(struct fixture *f, const char *sql)
{
	assert_int_equal(db_exec(f->db, sql), SQLITE_OK);
}

static int64_t append(struct fixture *f, const char *type, int64_t project, int64_t task, int64_t run)
{
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	bbb_status st;

	ev.event_type = (char *)type;
	ev.project_id = project;
	ev.task_id = task;
	ev.run_id = run;
	status_clear(&st);
	assert_int_equal(store_event_append(f->db, &ev, &st), 0);
	return ev.id;
}

static void set_created_at(struct fixture *f, int64_t id, int64_t at_ms)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "UPDATE events SET created_at = %lld WHERE id = %lld", (long long)at_ms,
		 (long long)id);
	exec(f, sql);
}

/* SQLITE_TRACE_STMT: keeps the text of each distinct statement on events. */
static int on_statement(unsigned type, void *arg, void *p, void *x)
{
	struct fixture *f = arg;
	const char *sql = sqlite3_sql(p);

	(void)type;
	(void)x;
	if (sql == NULL || (strstr(sql, "FROM events") == NULL && strstr(sql, "INTO events") == NULL &&
			    strstr(sql, "UPDATE events") == NULL))
		return 0;
	for (int i = 0; i < f->n_traced; i++)
		if (strcmp(f->traced[i], sql) == 0)
			return 0;
	assert_true(f->n_traced < TRACED_MAX);
	f->traced[f->n_traced] = strdup(sql);
	assert_non_null(f->traced[f->n_traced]);
	f->n_traced++;
	return 0;
}

/* Fails when the plan of sql reads the whole of a table (a SCAN of anything
 * but a subquery's result) or sorts its rows in a temporary b-tree. */
static void expect_index_search(struct fixture *f, const char *sql)
{
	char eqp[2048], plan[2048] = "";
	struct db_stmt *stmt;
	int scans = 0;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	assert_int_equal(unit_prepare(f->db, eqp, &stmt), SQLITE_OK);
	while (db_step(stmt) == DB_ROW) {
		const char *d = db_col_text(stmt, 3);

		if ((strncmp(d, "SCAN ", 5) == 0 && strncmp(d, "SCAN (subquery", 14) != 0) ||
		    strstr(d, "TEMP B-TREE") != NULL)
			scans++;
		strncat(plan, d, sizeof(plan) - strlen(plan) - 3);
		strcat(plan, "; ");
	}
	store_release(stmt);
	if (scans > 0)
		fail_msg("'%s' scans or sorts: %s", sql, plan);
}

/* Every statement the store runs on events, as the server runs it (the text
 * is taken from SQLite's trace, not copied here): replay with and without
 * its filters, its last-N start, the head, the oldest id, retention's cut,
 * the runtime's poll of status changes and triage's retries. */
static void every_read_of_events_is_an_index_search(void **state)
{
	struct fixture *f = *state;
	struct store_status_change *ch;
	Beebeebrain__V1__Event **evs;
	int64_t after, last5, last60, head;
	static const char *const types[] = {"run.status.changed", "task.status.changed", "run.log",
					    "security.audit.rpc", "usage.recorded"};
	bbb_status st;
	size_t n;
	int more, removed;

	exec(f, "BEGIN");
	for (int i = 0; i < 500; i++)
		append(f, types[i % 5], 1 + i % 3, i % 5 == 3 ? 0 : 1 + i % 40, i % 5 == 0 ? 1 + i % 70 : 0);
	exec(f, "COMMIT");
	assert_int_equal(sqlite3_trace_v2(db_sqlite(f->db), SQLITE_TRACE_STMT, on_statement, f), SQLITE_OK);

	status_clear(&st);
	append(f, "run.log", 1, 2, 3);
	head = store_event_head(f->db);
	assert_int_equal(store_event_list(f->db, 0, 0, 50, "", 0, &f->a, &evs, &n, &more, &st), 0);
	assert_int_equal(store_event_list(f->db, 10, head, 50, "run.", 2, &f->a, &evs, &n, &more, &st), 0);
	assert_int_equal(store_event_last_start(f->db, 20, head, "", 0, &after, &st), 0);
	assert_int_equal(store_event_last_start(f->db, 20, head, "security.", 0, &after, &st), 0);
	assert_true(store_event_oldest(f->db) > 0);
	assert_int_equal(store_event_status_changes(f->db, 100, 10, &f->a, &ch, &n, &more, &st), 0);
	assert_int_equal(store_triage_retries(f->db, clock_now_ms(), &last5, &last60, &st), 0);
	assert_int_equal(store_event_prune(f->db, clock_now_ms() + MIN_MS, 50, &removed, &st), 0);
	assert_int_equal(removed, 50);
	sqlite3_trace_v2(db_sqlite(f->db), 0, NULL, NULL);

	/* The ten calls above run nine distinct statements, the INSERT included. */
	assert_true(f->n_traced >= 9);
	for (int i = 0; i < f->n_traced; i++)
		expect_index_search(f, f->traced[i]);
}

static int64_t run_status_changed(struct fixture *f, run_status to, int64_t at_ms)
{
	Beebeebrain__V1__TaskRun *r = (void *)arena_message(&f->a, &beebeebrain__v1__task_run__descriptor);
	bbb_status st;

	r->id = 7;
	r->task_id = 3;
	r->run_status = to;
	if (to == R(RETRY_SCHEDULED))
		r->next_retry_at_ms = at_ms + MIN_MS;
	status_clear(&st);
	assert_int_equal(emit_run_status_changed(f->db, "", 1, r, R(RUNNING), &st), 0);
	set_created_at(f, store_event_head(f->db), at_ms);
	return store_event_head(f->db);
}

/* Retries are run status changes into retry_scheduled: those of the last
 * hour and of the last 5 minutes are counted, older ones and other changes
 * not, whatever other events lie between them. */
static void triage_counts_the_retries_of_the_last_hour_and_five_minutes(void **state)
{
	struct fixture *f = *state;
	int64_t now = clock_now_ms(), last5, last60;
	bbb_status st;

	run_status_changed(f, R(RETRY_SCHEDULED), now - 90 * MIN_MS);
	run_status_changed(f, R(RETRY_SCHEDULED), now - 61 * MIN_MS);
	run_status_changed(f, R(RETRY_SCHEDULED), now - 50 * MIN_MS);
	set_created_at(f, append(f, "task.status.changed", 1, 3, 0), now - 40 * MIN_MS);
	run_status_changed(f, R(RUNNING), now - 20 * MIN_MS);
	run_status_changed(f, R(RETRY_SCHEDULED), now - 10 * MIN_MS);
	run_status_changed(f, R(RETRY_SCHEDULED), now - 3 * MIN_MS);
	set_created_at(f, append(f, "run.log", 1, 3, 7), now - 1 * MIN_MS);

	status_clear(&st);
	assert_int_equal(store_triage_retries(f->db, now, &last5, &last60, &st), 0);
	assert_int_equal(last60, 3);
	assert_int_equal(last5, 1);
}

/* Retention removes the oldest events created before the cutoff, at most a
 * batch at a time, and records the highest id it removed; newer events stay. */
static void retention_removes_old_events_a_batch_at_a_time(void **state)
{
	struct fixture *f = *state;
	int64_t now = clock_now_ms(), ids[6];
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;
	int removed;

	for (int i = 0; i < 6; i++) {
		ids[i] = append(f, i % 2 == 0 ? "run.log" : "task.status.changed", 1, 1, 0);
		set_created_at(f, ids[i], now - (i < 3 ? 120 : 10) * MIN_MS);
	}
	status_clear(&st);
	assert_int_equal(store_event_prune(f->db, now - 60 * MIN_MS, 2, &removed, &st), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(store_state_get(f->db, "events_pruned_through", 0), ids[1]);
	assert_int_equal(store_event_prune(f->db, now - 60 * MIN_MS, 2, &removed, &st), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(store_event_prune(f->db, now - 60 * MIN_MS, 2, &removed, &st), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(store_state_get(f->db, "events_pruned_through", 0), ids[2]);
	assert_int_equal(store_event_oldest(f->db), ids[3]);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 3);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(every_read_of_events_is_an_index_search),
		T(triage_counts_the_retries_of_the_last_hour_and_five_minutes),
		T(retention_removes_old_events_a_batch_at_a_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
