/*
 * events/emit.c on a real database migrated to the binary's schema: each
 * emitter writes the event type, the columns and the payload SPEC section 5
 * gives its type, and what it stores is redacted. Events are read back the way
 * Replay reads them (store_event_list).
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

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include "common/redact.h"
#include "common/status.h"
#include "events/emit.h"
#include "store/event_store.h"
#include "store/migrate.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	sqlite3 *db;
	struct arena a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct migration_set set = migrate_builtin();
	char path[128];
	bbb_status st;
	int applied;

	snprintf(f->dir, sizeof(f->dir), "/tmp/bbb-emit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(path, sizeof(path), "%s/e.db", f->dir);
	assert_int_equal(store_conn_open(path, 0, 0, 5000, &f->db, &st), 0);
	assert_int_equal(migrate_up(f->db, &set, 0, &applied, &st), 0);
	arena_init(&f->a);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[96];

	arena_reset(&f->a);
	store_conn_close(f->db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	free(f);
	return system(cmd) == 0 ? 0 : -1;
}

/* The one event in the table, as Replay would return it. */
static Beebeebrain__V1__Event *only_event(struct fixture *f)
{
	Beebeebrain__V1__Event **evs;
	bbb_status st;
	size_t n;

	status_clear(&st);
	assert_int_equal(store_event_list(f->db, 0, 0, 10, "", 0, &f->a, &evs, &n, NULL, &st), 0);
	assert_int_equal(n, 1);
	return evs[0];
}

static void assert_columns(const Beebeebrain__V1__Event *ev, const char *type, int64_t project, int64_t task,
			   int64_t run, const char *trace)
{
	assert_string_equal(ev->event_type, type);
	assert_int_equal(ev->project_id, project);
	assert_int_equal(ev->task_id, task);
	assert_int_equal(ev->run_id, run);
	assert_string_equal(ev->trace_id, trace);
	assert_true(ev->id > 0);
	assert_true(ev->created_at_ms > 0);
}

static int64_t count_rows(struct fixture *f, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t n = -1;

	assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &stmt, NULL), SQLITE_OK);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

/* ---- run.log */

static void run_log_writes_the_event_and_its_log_row(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	status_clear(&st);
	l.project_id = 3;
	l.task_id = 5;
	l.run_id = 7;
	l.level = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_WARNING;
	l.source = "agent";
	l.message = "disk almost full";
	assert_int_equal(emit_run_log(f->db, "trace-1", &f->a, &l, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "run.log", 3, 5, 7, "trace-1");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_LOG);
	assert_int_equal(ev->run_log->run_id, 7);
	assert_int_equal(ev->run_log->level, BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_WARNING);
	assert_string_equal(ev->run_log->message, "disk almost full");
	assert_string_equal(ev->run_log->source, "agent");
	/* The row points at its event and carries its time and trace. */
	assert_int_equal(l.event_id, ev->id);
	assert_int_equal(l.created_at_ms, ev->created_at_ms);
	assert_string_equal(l.trace_id, "trace-1");
	assert_true(l.id > 0);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM run_logs WHERE run_id = 7 AND task_id = 5 AND "
				       "project_id = 3 AND level = 'warning' AND source = 'agent' AND trace_id = "
				       "'trace-1' AND message = 'disk almost full'"),
			 1);
	assert_int_equal(count_rows(f, "SELECT event_id FROM run_logs"), ev->id);
}

static void run_log_redacts_before_it_cuts(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__LogLine l = BEEBEEBRAIN__V1__LOG_LINE__INIT;
	const char *secret = "Zq8vLm2Pw4Rt6Yx0";
	size_t pad = EMIT_LOG_MESSAGE_MAX - 10;
	char *msg = malloc(pad + 64);
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	/* A configured secret that straddles the cut: cutting first would keep
	 * its first 10 bytes, which no rule recognizes any more. */
	assert_int_equal(redact_add_secret(secret), 1);
	memset(msg, 'a', pad);
	msg[pad - 1] = ' ';
	snprintf(msg + pad, 64, "%s tail", secret);
	status_clear(&st);
	l.run_id = 1;
	l.level = BEEBEEBRAIN__V1__LOG_LEVEL__LOG_LEVEL_INFO;
	l.message = msg;
	assert_int_equal(emit_run_log(f->db, NULL, &f->a, &l, &st), 0);
	ev = only_event(f);
	assert_string_equal(ev->trace_id, "");
	assert_true(strlen(ev->run_log->message) <= EMIT_LOG_MESSAGE_MAX);
	assert_null(strstr(ev->run_log->message, "Zq8vLm2Pw4"));
	assert_non_null(strstr(ev->run_log->message, "[RED"));
	assert_string_equal(l.message, ev->run_log->message);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM run_logs WHERE instr(message, 'Zq8vLm2Pw4') > 0"), 0);
	redact_forget_secrets();
	free(msg);
}

/* ---- usage.recorded */

static void usage_recorded_carries_the_calls_tokens_and_cost(void **state)
{
	struct fixture *f = *state;
	struct emit_usage u = {
		.eu_project_id = 2,
		.eu_task_id = 4,
		.eu_run_id = 6,
		.eu_provider = "openai",
		.eu_model = "gpt-4o",
		.eu_token_in = 1200,
		.eu_token_out = 345,
		.eu_cost_usd_micros = 6789,
	};
	Beebeebrain__V1__Event *ev;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(emit_usage_recorded(f->db, "", &u, &st), 0);
	ev = only_event(f);
	assert_columns(ev, "usage.recorded", 2, 4, 6, "");
	assert_int_equal(ev->payload_case, BEEBEEBRAIN__V1__EVENT__PAYLOAD_USAGE_RECORDED);
	assert_int_equal(ev->usage_recorded->run_id, 6);
	assert_string_equal(ev->usage_recorded->provider, "openai");
	assert_string_equal(ev->usage_recorded->model, "gpt-4o");
	assert_int_equal(ev->usage_recorded->token_in, 1200);
	assert_int_equal(ev->usage_recorded->token_out, 345);
	assert_int_equal(ev->usage_recorded->cost_usd_micros, 6789);
}

/* ---- the transaction */

static void an_event_rolls_back_with_the_callers_transaction(void **state)
{
	struct fixture *f = *state;
	struct emit_usage u = {.eu_run_id = 1, .eu_provider = "echo", .eu_model = "echo", .eu_token_in = 1};
	bbb_status st;

	status_clear(&st);
	assert_int_equal(sqlite3_exec(f->db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(emit_usage_recorded(f->db, "t", &u, &st), 0);
	assert_int_equal(sqlite3_exec(f->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(count_rows(f, "SELECT count(*) FROM events"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(run_log_writes_the_event_and_its_log_row, setup, teardown),
		cmocka_unit_test_setup_teardown(run_log_redacts_before_it_cuts, setup, teardown),
		cmocka_unit_test_setup_teardown(usage_recorded_carries_the_calls_tokens_and_cost, setup, teardown),
		cmocka_unit_test_setup_teardown(an_event_rolls_back_with_the_callers_transaction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
