/*
 * store/ for what the runtime reads and writes, on a real database migrated
 * to the binary's schema: due runs and their order, a run's execution
 * settings, held runs, status changes, autorun candidates, the detectors'
 * queries, the turns of a run's conversation (recorded before their tools
 * run, results after, calls left without one settled once), the open inbox
 * item a run's end looks for, the leases on runs in flight (taken, renewed,
 * passed, let go) and the lost calls of one run, and errors that come back
 * as statuses instead of silence.
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

#include "common/arena.h"
#include "common/status.h"
#include "store/event_store.h"
#include "store/inbox_store.h"
#include "store/log_store.h"
#include "store/migrate.h"
#include "store/run_store.h"
#include "store/store.h"
#include "store/task_store.h"
#include "store/turn_store.h"
#include "store/usage_store.h"

struct fixture {
	char dir[UNIT_DB_DIR_MAX];
	struct db *db;
	struct arena a;
};

static void exec(struct fixture *f, const char *sql)
{
	if (db_exec(f->db, sql) != DB_OK)
		fail_msg("%s: %s", sql, db_errmsg(f->db));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	unit_db_open(f->dir, "rtstore", &f->db);
	arena_init(&f->a);
	*state = f;
	/* Project 1; agents 1 (anthropic, 2 at once, a persona and tools) and 2 (openai). */
	exec(f, "INSERT INTO projects (id, name, root_path, created_at, updated_at) VALUES (1, 'p', '/tmp/p', 0, 0);"
		"INSERT INTO agents (id, project_id, name, role, model_provider, model_name, persona_prompt, "
		"enabled_tools, max_concurrency, created_at, updated_at) VALUES "
		"(1, 1, 'a', 'coder', 'anthropic', 'claude', 'be brief', 'read_file,finish_task', 2, 0, 0),"
		"(2, 1, 'b', 'coder', 'openai', 'gpt', '', '', 4, 0, 0)");
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	arena_reset(&f->a);
	rc = unit_db_close(f->dir, f->db);
	free(f);
	return rc;
}

/* A task (status, priority, created_at) with one run (status, provider, agent 0|1|2, next retry 0: none). */
static void task_with_run(struct fixture *f, int id, const char *task_status, int priority, int created,
			  const char *run_status, const char *provider, int agent, long long next_retry_at)
{
	char sql[1024], agent_sql[24] = "NULL", retry_sql[24] = "NULL";

	if (agent != 0)
		snprintf(agent_sql, sizeof(agent_sql), "%d", agent);
	if (next_retry_at != 0)
		snprintf(retry_sql, sizeof(retry_sql), "%lld", next_retry_at);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO tasks (id, project_id, title, status, priority, created_at, updated_at) "
		 "VALUES (%d, 1, 't%d', '%s', %d, %d, 0);"
		 "INSERT INTO task_runs (id, task_id, agent_id, run_status, attempt, idempotency_key, provider, "
		 "created_at, next_retry_at) VALUES (%d, %d, %s, '%s', 1, 'k%d', '%s', 0, %s)",
		 id, id, task_status, priority, created, id, id, agent_sql, run_status, id, provider, retry_sql);
	exec(f, sql);
}

static void due_runs_come_by_priority_then_age_and_only_of_running_tasks(void **state)
{
	struct fixture *f = *state;
	struct store_due_run *due;
	size_t n;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 10, "queued", "anthropic", 1, 0);
	task_with_run(f, 2, "running", 1, 20, "interrupted", "openai", 2, 0);
	task_with_run(f, 3, "running", 3, 5, "retry_scheduled", "anthropic", 1, 1000);
	task_with_run(f, 4, "running", 2, 1, "retry_scheduled", "anthropic", 1, 5000); /* not yet */
	task_with_run(f, 5, "blocked", 1, 1, "interrupted", "anthropic", 1, 0); /* paused */
	task_with_run(f, 6, "running", 1, 1, "running", "anthropic", 1, 0); /* in flight */
	task_with_run(f, 7, "running", 5, 1, "queued", "", 0, 0); /* echo, no agent */

	assert_int_equal(store_run_due_list(f->db, 2000, 10, &f->a, &due, &n, &st), 0);
	assert_int_equal(n, 4);
	assert_int_equal(due[0].dr_run_id, 2);
	assert_string_equal(due[0].dr_provider, "openai");
	assert_int_equal(due[0].dr_agent_id, 2);
	assert_int_equal(due[0].dr_agent_limit, 4);
	assert_int_equal(due[1].dr_run_id, 3); /* priority 3, older */
	assert_int_equal(due[1].dr_agent_limit, 2);
	assert_int_equal(due[2].dr_run_id, 1);
	assert_int_equal(due[3].dr_run_id, 7);
	assert_string_equal(due[3].dr_provider, "");
	assert_int_equal(due[3].dr_agent_id, 0);
	assert_int_equal(due[3].dr_agent_limit, 4);

	assert_int_equal(store_run_due_list(f->db, 5000, 2, &f->a, &due, &n, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(due[0].dr_run_id, 2);
	assert_int_equal(due[1].dr_run_id, 4); /* its time came */
}

static void exec_settings_come_from_the_agent_the_project_and_the_attempts(void **state)
{
	struct fixture *f = *state;
	struct store_run_exec ex;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "queued", "anthropic", 1, 0);
	exec(f, "INSERT INTO run_attempts (run_id, n, started_at, ended_at, error_code) VALUES "
		"(1, 1, 0, 1, 'LLM_PROTOCOL_ERROR'), (1, 2, 2, 3, 'LLM_TIMEOUT'), (1, 3, 4, 5, 'LLM_PROTOCOL_ERROR')");
	assert_int_equal(store_run_exec_settings(f->db, 1, &f->a, &ex, &st), 0);
	assert_string_equal(ex.re_root, "/tmp/p");
	assert_string_equal(ex.re_persona, "be brief");
	assert_string_equal(ex.re_tools, "read_file,finish_task");
	assert_int_equal(ex.re_last_attempt, 3);
	assert_int_equal(ex.re_protocol_errors, 2);

	task_with_run(f, 2, "running", 3, 0, "queued", "", 0, 0);
	assert_int_equal(store_run_exec_settings(f->db, 2, &f->a, &ex, &st), 0);
	assert_string_equal(ex.re_persona, "");
	assert_string_equal(ex.re_tools, "");
	assert_int_equal(ex.re_last_attempt, 0);

	assert_int_equal(store_run_exec_settings(f->db, 99, &f->a, &ex, &st), -1);
	assert_string_equal(st.reason, "TASK_RUN_NOT_FOUND");
}

static void held_runs_are_the_due_ones_of_the_provider(void **state)
{
	struct fixture *f = *state;
	int64_t n;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "queued", "anthropic", 1, 0);
	task_with_run(f, 2, "running", 3, 0, "interrupted", "anthropic", 1, 0);
	task_with_run(f, 3, "running", 3, 0, "retry_scheduled", "anthropic", 1, 3000);
	task_with_run(f, 4, "running", 3, 0, "retry_scheduled", "anthropic", 1, 60000); /* beyond the release */
	task_with_run(f, 5, "blocked", 3, 0, "interrupted", "anthropic", 1, 0); /* paused: not held */
	task_with_run(f, 6, "running", 3, 0, "queued", "openai", 2, 0);
	task_with_run(f, 7, "running", 3, 0, "running", "anthropic", 1, 0);
	assert_int_equal(store_run_held_count(f->db, "anthropic", 10000, &n, &st), 0);
	assert_int_equal(n, 3);
	assert_int_equal(store_run_held_count(f->db, "openai", 10000, &n, &st), 0);
	assert_int_equal(n, 1);
}

/* Task status changes only: a run is paused or cancelled with its task, and
 * the runtime's own run status changes are its own to know. */
static void status_changes_are_read_in_pages_after_an_id(void **state)
{
	struct fixture *f = *state;
	struct store_status_change *ch;
	size_t n;
	int more;
	bbb_status st;

	task_with_run(f, 1, "blocked", 3, 0, "interrupted", "anthropic", 1, 0);
	task_with_run(f, 2, "running", 3, 0, "running", "anthropic", 1, 0);
	exec(f,
	     "INSERT INTO events (id, event_type, task_id, created_at, payload) VALUES "
	     "(1, 'task.status.changed', 1, 0, x''), (2, 'run.log', 2, 0, x''), (3, 'run.status.changed', 2, 0, x''),"
	     "(4, 'task.status.changed', 2, 0, x''), (5, 'task.status.changed', 1, 0, x'')");
	assert_int_equal(store_event_status_changes(f->db, 0, 2, &f->a, &ch, &n, &more, &st), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_int_equal(ch[0].sc_event_id, 1);
	assert_int_equal(ch[0].sc_task_id, 1);
	assert_string_equal(ch[0].sc_task_status, "blocked");
	assert_int_equal(ch[1].sc_event_id, 4);
	assert_int_equal(ch[1].sc_task_id, 2);
	assert_string_equal(ch[1].sc_task_status, "running");
	assert_int_equal(store_event_status_changes(f->db, 4, 2, &f->a, &ch, &n, &more, &st), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_int_equal(ch[0].sc_event_id, 5);
}

static void autorun_takes_todo_tasks_with_an_assignee_whose_prerequisites_are_done(void **state)
{
	struct fixture *f = *state;
	struct store_ready_task *t;
	size_t n;
	bbb_status st;

	exec(f, "INSERT INTO tasks (id, project_id, title, description, status, priority, assignee_agent_id, "
		"parent_task_id, created_at, updated_at) VALUES "
		"(1, 1, 'ready', 'do it', 'todo', 3, 1, NULL, 2, 0),"
		"(2, 1, 'urgent', '', 'todo', 1, 2, NULL, 3, 0),"
		"(3, 1, 'no assignee', '', 'todo', 1, NULL, NULL, 0, 0),"
		"(4, 1, 'waits', '', 'todo', 1, 1, NULL, 0, 0),"
		"(5, 1, 'prerequisite', '', 'running', 3, 1, NULL, 0, 0),"
		"(6, 1, 'parent not done', '', 'todo', 1, 1, 5, 0, 0),"
		"(7, 1, 'running already', '', 'running', 1, 1, NULL, 0, 0);"
		"INSERT INTO task_dependencies (task_id, depends_on_task_id, created_at) VALUES (4, 5, 0)");
	assert_int_equal(store_task_autorun_ready(f->db, 32, &f->a, &t, &n, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(t[0].rt_task_id, 2);
	assert_string_equal(t[0].rt_description, "");
	assert_int_equal(t[1].rt_task_id, 1);
	assert_string_equal(t[1].rt_title, "ready");
	assert_string_equal(t[1].rt_description, "do it");
	assert_int_equal(store_task_autorun_ready(f->db, 1, &f->a, &t, &n, &st), 0);
	assert_int_equal(n, 1);
}

static void detectors_find_costs_idle_repeating_and_failing_work(void **state)
{
	struct fixture *f = *state;
	struct store_usage_over *over;
	struct store_run_ref *runs;
	struct store_failing_task *tasks;
	size_t n;
	bbb_status st;

	exec(f, "INSERT INTO api_usage_daily (provider, model_name, date, cost_usd_micros) VALUES "
		"('anthropic', 'claude', '2030-01-02', 5000000), ('openai', 'gpt', '2030-01-02', 100),"
		"('openai', 'gpt', '2030-01-01', 9000000)");
	assert_int_equal(store_usage_daily_over(f->db, "2030-01-02", 1000000, 10, &f->a, &over, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_string_equal(over[0].uo_provider, "anthropic");
	assert_string_equal(over[0].uo_model, "claude");
	assert_int_equal(over[0].uo_cost_micros, 5000000);

	/* Run 1 started long ago and logged long ago; run 2 logged recently; run 3 ended. */
	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	task_with_run(f, 2, "running", 3, 0, "running", "anthropic", 1, 0);
	task_with_run(f, 3, "running", 3, 0, "succeeded", "anthropic", 1, 0);
	exec(f, "UPDATE task_runs SET started_at = 100;"
		"INSERT INTO run_logs (project_id, task_id, run_id, level, message, created_at) VALUES "
		"(1, 1, 1, 'info', 'same', 200), (1, 2, 2, 'info', 'same', 9000), (1, 2, 2, 'info', 'same', 9001),"
		"(1, 2, 2, 'info', 'same', 9002), (1, 2, 2, 'info', 'other', 9003), (1, 2, 2, 'info', 'same', 9004),"
		"(1, 2, 2, 'info', 'same', 9005)");
	assert_int_equal(store_run_idle_list(f->db, 5000, 10, &f->a, &runs, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].rf_run_id, 1);
	assert_int_equal(runs[0].rf_task_id, 1);
	assert_int_equal(runs[0].rf_project_id, 1);
	assert_int_equal(store_log_repeating_runs(f->db, 6, 5, 10, &f->a, &runs, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(runs[0].rf_run_id, 2);
	assert_int_equal(runs[0].rf_count, 5);

	/* Task 10: 2 of its last 3 ended runs failed (67%); task 11: 1 of 3. */
	exec(f, "INSERT INTO tasks (id, project_id, title, status, created_at, updated_at) VALUES "
		"(10, 1, 'x', 'failed', 0, 0), (11, 1, 'y', 'failed', 0, 0);"
		"INSERT INTO task_runs (task_id, run_status, attempt, idempotency_key, created_at) VALUES "
		"(10, 'failed', 1, 'a1', 0), (10, 'succeeded', 2, 'a2', 0), (10, 'failed', 3, 'a3', 0),"
		"(11, 'failed', 1, 'b1', 0), (11, 'succeeded', 2, 'b2', 0), (11, 'succeeded', 3, 'b3', 0)");
	assert_int_equal(store_run_failing_tasks(f->db, 3, 5, 60, 10, &f->a, &tasks, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tasks[0].ft_task_id, 10);
	assert_int_equal(tasks[0].ft_failed, 2);
	assert_int_equal(tasks[0].ft_runs, 3);
}

/* Integer value of one SQL query (the first column of its first row). */
static long long value(struct fixture *f, const char *sql)
{
	struct db_stmt *stmt;
	long long v;

	assert_int_equal(unit_prepare(f->db, sql, &stmt), SQLITE_OK);
	assert_int_equal(db_step(stmt), DB_ROW);
	v = db_col_i64(stmt, 0);
	store_release(stmt);
	return v;
}

static void a_call_is_recorded_when_it_starts_and_completed_when_it_ends(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__RunAttempt a = BEEBEEBRAIN__V1__RUN_ATTEMPT__INIT;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	status_clear(&st);
	assert_int_equal(store_attempt_start(f->db, 1, 1, 1000, &st), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM run_attempts WHERE run_id = 1 AND ended_at IS NULL"), 1);
	/* The same call started twice is an error, not a second row. */
	assert_int_equal(store_attempt_start(f->db, 1, 1, 1001, &st), -1);

	a.run_id = 1;
	a.n = 1;
	a.started_at_ms = 1000;
	a.ended_at_ms = 1500;
	a.http_status = 200;
	a.error_code = "";
	a.token_in = 10;
	a.token_out = 3;
	status_clear(&st);
	assert_int_equal(store_attempt_end(f->db, &a, &st), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM run_attempts"), 1);
	assert_int_equal(value(f, "SELECT ended_at FROM run_attempts WHERE run_id = 1 AND n = 1"), 1500);
	assert_int_equal(value(f, "SELECT token_in * 100 + token_out FROM run_attempts WHERE n = 1"), 1003);

	/* A call whose start was not recorded is inserted whole at its end. */
	a.n = 2;
	a.started_at_ms = 2000;
	a.ended_at_ms = 2100;
	a.http_status = 503;
	a.error_code = "LLM_UNAVAILABLE";
	a.token_in = a.token_out = 0;
	assert_int_equal(store_attempt_end(f->db, &a, &st), 0);
	assert_int_equal(value(f, "SELECT http_status FROM run_attempts WHERE run_id = 1 AND n = 2"), 503);
}

/* A call's cache tokens, cache prices and unknown cost are kept on its row;
 * the run and the day add them up, count the calls without a price and add
 * no cost for them. */
static void usage_keeps_cache_tokens_and_counts_unpriced_calls(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__RunAttempt a = BEEBEEBRAIN__V1__RUN_ATTEMPT__INIT;
	Beebeebrain__V1__RunAttempt **at;
	Beebeebrain__V1__TaskRun *run;
	const struct store_usage priced = {.su_tokens_in = 1000,
					   .su_tokens_out = 50,
					   .su_cache_read = 700,
					   .su_cache_write = 200,
					   .su_cost_micros = 99};
	const struct store_usage unpriced = {
		.su_tokens_in = 10, .su_tokens_out = 5, .su_cost_micros = 12345, .su_unpriced = 1};
	size_t n;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	a.run_id = 1;
	a.n = 1;
	a.started_at_ms = 1000;
	a.ended_at_ms = 1500;
	a.http_status = 200;
	a.error_code = "";
	a.token_in = 1000;
	a.cache_read_tokens = 700;
	a.cache_write_tokens = 200;
	a.price_cache_read_usd_micros_per_mtok = 300000;
	a.price_cache_write_usd_micros_per_mtok = 3750000;
	a.cost_unknown = 1;
	status_clear(&st);
	assert_int_equal(store_attempt_end(f->db, &a, &st), 0);
	assert_int_equal(store_run_attempts(f->db, 1, &f->a, &at, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(at[0]->cache_read_tokens, 700);
	assert_int_equal(at[0]->cache_write_tokens, 200);
	assert_int_equal(at[0]->price_cache_read_usd_micros_per_mtok, 300000);
	assert_int_equal(at[0]->price_cache_write_usd_micros_per_mtok, 3750000);
	assert_true(at[0]->cost_unknown);

	assert_int_equal(store_run_add_usage(f->db, 1, &priced, &st), 0);
	assert_int_equal(store_run_get(f->db, 1, &f->a, &run, &st), 0);
	assert_false(run->cost_unknown);
	assert_int_equal(store_run_add_usage(f->db, 1, &unpriced, &st), 0);
	assert_int_equal(store_run_add_usage(f->db, 1, &unpriced, &st), 0);
	assert_int_equal(store_run_get(f->db, 1, &f->a, &run, &st), 0);
	assert_int_equal(run->token_in, 1020);
	assert_int_equal(run->token_out, 60);
	assert_int_equal(run->cache_read_tokens, 700);
	assert_int_equal(run->cache_write_tokens, 200);
	assert_int_equal(run->cost_usd_micros, 99); /* the unpriced calls' cost is not added */
	assert_int_equal(run->unpriced_calls, 2);
	assert_true(run->cost_unknown);

	/* 2025-11-30 (UTC). */
	assert_int_equal(store_usage_daily_add(f->db, "anthropic", "m", 1764460800000, &priced, &st), 0);
	assert_int_equal(store_usage_daily_add(f->db, "anthropic", "m", 1764460801000, &unpriced, &st), 0);
	assert_int_equal(value(f, "SELECT request_count FROM api_usage_daily WHERE date = '2025-11-30'"), 2);
	assert_int_equal(value(f, "SELECT cost_usd_micros FROM api_usage_daily"), 99);
	assert_int_equal(value(f, "SELECT cache_read_tokens * 1000 + cache_write_tokens FROM api_usage_daily"), 700200);
	assert_int_equal(value(f, "SELECT unpriced_calls FROM api_usage_daily"), 1);
}

/* SQLite's + turns an int64 overflow into a REAL (which then reads back as
 * another number); totals of hostile counts are held at INT64_MAX instead. */
static void usage_totals_stay_integers_held_at_int64_max(void **state)
{
	struct fixture *f = *state;
	const struct store_usage huge = {.su_tokens_in = INT64_MAX,
					 .su_tokens_out = INT64_MAX - 1,
					 .su_cache_read = INT64_MAX,
					 .su_cost_micros = INT64_MAX};
	Beebeebrain__V1__TaskRun *run;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	status_clear(&st);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_run_add_usage(f->db, 1, &huge, &st), 0);
		assert_int_equal(store_usage_daily_add(f->db, "anthropic", "m", 1764460800000, &huge, &st), 0);
	}
	assert_int_equal(store_run_get(f->db, 1, &f->a, &run, &st), 0);
	assert_true(run->token_in == INT64_MAX);
	assert_true(run->token_out == INT64_MAX);
	assert_true(run->cache_read_tokens == INT64_MAX);
	assert_true(run->cost_usd_micros == INT64_MAX);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE typeof(token_in) = 'integer' AND "
				  "typeof(cost_usd_micros) = 'integer'"),
			 1);
	assert_int_equal(value(f, "SELECT count(*) FROM api_usage_daily WHERE token_in = 9223372036854775807 AND "
				  "typeof(token_in) = 'integer' AND cost_usd_micros = 9223372036854775807 AND "
				  "request_count = 3"),
			 1);
}

static void recovery_closes_and_counts_every_call_lost_in_flight(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int n = -1;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	task_with_run(f, 2, "running", 3, 0, "running", "anthropic", 1, 0);
	/* 2025-11-30 and 2025-12-01 (UTC): one ended call, three lost ones. */
	exec(f, "UPDATE task_runs SET model = 'claude';"
		"INSERT INTO run_attempts (run_id, n, started_at, ended_at, http_status) VALUES "
		"(1, 1, 1764460800000, 1764460801000, 200);"
		"INSERT INTO run_attempts (run_id, n, started_at) VALUES (1, 2, 1764460802000), "
		"(2, 1, 1764547200000), (2, 2, 1764547201000);"
		"INSERT INTO api_usage_daily (provider, model_name, date, request_count, token_in) VALUES "
		"('anthropic', 'claude', '2025-11-30', 1, 10)");
	status_clear(&st);
	assert_int_equal(store_attempts_close_open(f->db, 9000, "PROCESS_RESTARTED", &n, &st), 0);
	assert_int_equal(n, 3);
	assert_int_equal(value(f, "SELECT count(*) FROM run_attempts WHERE ended_at IS NULL"), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM run_attempts WHERE ended_at = 9000 AND "
				  "error_code = 'PROCESS_RESTARTED'"),
			 3);
	assert_int_equal(value(f, "SELECT http_status FROM run_attempts WHERE run_id = 1 AND n = 1"), 200);
	/* Each lost call is a request of the day it was sent; tokens unknown. */
	assert_int_equal(value(f, "SELECT request_count * 1000 + token_in FROM api_usage_daily WHERE date = "
				  "'2025-11-30'"),
			 2010);
	assert_int_equal(value(f, "SELECT request_count FROM api_usage_daily WHERE date = '2025-12-01' AND "
				  "provider = 'anthropic' AND model_name = 'claude'"),
			 2);
	/* Nothing left to close: a second recovery counts nothing. */
	assert_int_equal(store_attempts_close_open(f->db, 9500, "PROCESS_RESTARTED", &n, &st), 0);
	assert_int_equal(n, 0);
	assert_int_equal(value(f, "SELECT sum(request_count) FROM api_usage_daily"), 4);
}

static void a_runs_lost_calls_are_closed_and_counted_without_the_other_runs(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int n = -1;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	task_with_run(f, 2, "running", 3, 0, "running", "anthropic", 1, 0);
	/* 2025-12-01 (UTC): run 1 has a call in flight and an ended one; run 2 two calls in flight. */
	exec(f,
	     "UPDATE task_runs SET model = 'claude';"
	     "INSERT INTO run_attempts (run_id, n, started_at, ended_at) VALUES (1, 1, 1764547200000, 1764547201000);"
	     "INSERT INTO run_attempts (run_id, n, started_at) VALUES (1, 2, 1764547202000), "
	     "(2, 1, 1764547200000), (2, 2, 1764547201000)");
	status_clear(&st);
	assert_int_equal(store_run_attempts_close_open(f->db, 1, 9000, "PROCESS_RESTARTED", &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(value(f, "SELECT count(*) FROM run_attempts WHERE ended_at = 9000 AND "
				  "error_code = 'PROCESS_RESTARTED' AND run_id = 1 AND n = 2"),
			 1);
	assert_int_equal(value(f, "SELECT count(*) FROM run_attempts WHERE ended_at IS NULL AND run_id = 2"), 2);
	assert_int_equal(value(f, "SELECT request_count FROM api_usage_daily WHERE date = '2025-12-01' AND "
				  "provider = 'anthropic' AND model_name = 'claude'"),
			 1);
	/* Run 1 has nothing open any more; run 2's calls are counted on the same day's row. */
	assert_int_equal(store_run_attempts_close_open(f->db, 1, 9500, "PROCESS_RESTARTED", &n, &st), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_run_attempts_close_open(f->db, 2, 9500, "PROCESS_RESTARTED", &n, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(value(f, "SELECT sum(request_count) FROM api_usage_daily"), 3);
}

/* Runs 1..5 running: 1 and 4 leased by others, their lease passed at 500
 * and 100; 2 leased by another until 5000; 3 without a lease; 5 this
 * server's ("me"), passed at 200. Run 6 is interrupted with a stale lease. */
static void leased_runs(struct fixture *f)
{
	for (int i = 1; i <= 5; i++)
		task_with_run(f, i, "running", 3, i, "running", "anthropic", 1, 0);
	task_with_run(f, 6, "running", 3, 6, "interrupted", "anthropic", 1, 0);
	exec(f, "UPDATE task_runs SET lease_owner = 'other', lease_until = 500 WHERE id = 1;"
		"UPDATE task_runs SET lease_owner = 'other', lease_until = 5000 WHERE id = 2;"
		"UPDATE task_runs SET lease_owner = 'gone', lease_until = 100 WHERE id = 4;"
		"UPDATE task_runs SET lease_owner = 'me', lease_until = 200 WHERE id = 5;"
		"UPDATE task_runs SET lease_owner = 'other', lease_until = 1 WHERE id = 6");
}

static void runs_whose_lease_passed_are_listed_oldest_first_but_never_the_servers_own(void **state)
{
	struct fixture *f = *state;
	int64_t *ids;
	size_t n;
	bbb_status st;

	leased_runs(f);
	status_clear(&st);
	assert_int_equal(store_run_lease_expired(f->db, 1000, "me", 10, &f->a, &ids, &n, &st), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 3); /* no lease at all */
	assert_int_equal(ids[1], 4);
	assert_int_equal(ids[2], 1);
	assert_int_equal(store_run_lease_expired(f->db, 1000, NULL, 10, &f->a, &ids, &n, &st), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ids[2], 5);
	assert_int_equal(store_run_lease_expired(f->db, 1000, "me", 2, &f->a, &ids, &n, &st), 0);
	assert_int_equal(n, 2);
	/* Once the time passes run 2's lease too. */
	assert_int_equal(store_run_lease_expired(f->db, 5001, "me", 10, &f->a, &ids, &n, &st), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ids[3], 2);
}

static void a_lease_is_taken_at_the_version_read_and_renewed_only_for_its_owner(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int n = -1;

	leased_runs(f);
	status_clear(&st);
	/* Run 3 is at version 1: a start that read another version takes nothing. */
	assert_int_equal(store_run_lease_take(f->db, 3, 2, "me", 7000, &st), -1);
	assert_string_equal(st.reason, "TASK_VERSION_CONFLICT");
	assert_int_equal(store_run_lease_take(f->db, 6, 1, "me", 7000, &st), -1); /* not running */
	assert_int_equal(store_run_lease_take(f->db, 3, 1, "me", 7000, &st), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE id = 3 AND lease_owner = 'me' AND "
				  "lease_until = 7000"),
			 1);
	/* The owner's running runs (3 and 5) are renewed; the others' are not. */
	assert_int_equal(store_run_lease_renew(f->db, "me", 8000, &n, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE lease_until = 8000 AND id IN (3, 5)"), 2);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE lease_until = 8000"), 2);
	assert_int_equal(value(f, "SELECT lease_until FROM task_runs WHERE id = 1"), 500);
	assert_int_equal(value(f, "SELECT lease_until FROM task_runs WHERE id = 6"), 1);
}

static void a_run_that_stops_running_lets_go_of_its_lease_in_the_same_write(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__TaskRun *r;
	bbb_status st;

	leased_runs(f);
	status_clear(&st);
	/* Saved still running (its output, its tokens): the lease stays. */
	assert_int_equal(store_run_get(f->db, 1, &f->a, &r, &st), 0);
	r->token_in = 5;
	assert_int_equal(store_run_save(f->db, r, &st), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE id = 1 AND lease_owner = 'other' AND "
				  "lease_until = 500"),
			 1);
	/* Interrupted, succeeded, retry_scheduled: no lease any more. */
	r->run_status = BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_INTERRUPTED;
	assert_int_equal(store_run_save(f->db, r, &st), 0);
	assert_int_equal(store_run_get(f->db, 5, &f->a, &r, &st), 0);
	r->run_status = BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_SUCCEEDED;
	assert_int_equal(store_run_save(f->db, r, &st), 0);
	assert_int_equal(store_run_get(f->db, 2, &f->a, &r, &st), 0);
	r->run_status = BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_RETRY_SCHEDULED;
	r->next_retry_at_ms = 9000;
	assert_int_equal(store_run_save(f->db, r, &st), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE id IN (1, 2, 5) AND lease_owner IS NULL AND "
				  "lease_until IS NULL"),
			 3);
	assert_int_equal(value(f, "SELECT count(*) FROM task_runs WHERE lease_owner IS NOT NULL"), 2);
}

/* Turn 1 asks for two tools (no results yet); turn 2 is a cut answer whose rest is asked for. */
static void record_two_turns(struct fixture *f)
{
	struct store_tool_call calls[] = {
		{"toolu_1", "write_file", "{\"path\":\"a.txt\",\"content\":\"password=hunter22secret\"}", NULL, 0},
		{"toolu_2", "append_log", "{\"message\":\"hi\"}", NULL, 0},
	};
	struct store_turn one = {1, 1, "writing it", "tool_use", "", calls, 2};
	struct store_turn two = {2, 2, "the first half", "max_tokens", "Continue.", NULL, 0};
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	status_clear(&st);
	assert_int_equal(store_turn_insert(f->db, 1, &one, 1000, &st), 0);
	assert_int_equal(store_turn_insert(f->db, 1, &two, 2000, &st), 0);
}

static void turns_are_read_back_in_order_with_their_calls_and_results(void **state)
{
	struct fixture *f = *state;
	struct store_tool_call done[] = {
		{"toolu_1", "write_file", "", "wrote 23 bytes to a.txt", 0},
		{"toolu_2", "append_log", "", "message is required", 1},
	};
	struct store_turn results = {1, 1, "", "", "", done, 2};
	struct store_turn *t;
	size_t n;
	bbb_status st;

	record_two_turns(f);
	status_clear(&st);
	assert_int_equal(store_turns_of_run(f->db, 1, &f->a, &t, &n, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(t[0].stu_n, 1);
	assert_int_equal(t[0].stu_attempt_n, 1);
	assert_string_equal(t[0].stu_text, "writing it");
	assert_string_equal(t[0].stu_stop_reason, "tool_use");
	assert_int_equal(t[0].stu_n_calls, 2);
	assert_string_equal(t[0].stu_calls[0].stc_id, "toolu_1");
	assert_string_equal(t[0].stu_calls[1].stc_name, "append_log");
	/* Recorded before the tools ran: no result yet. */
	assert_null(t[0].stu_calls[0].stc_result);
	assert_null(t[0].stu_calls[1].stc_result);
	assert_string_equal(t[1].stu_follow_up, "Continue.");
	assert_int_equal(t[1].stu_n_calls, 0);
	assert_null(t[1].stu_calls);

	assert_int_equal(store_turn_results(f->db, 1, &results, &st), 0);
	assert_int_equal(store_turns_of_run(f->db, 1, &f->a, &t, &n, &st), 0);
	assert_string_equal(t[0].stu_calls[0].stc_result, "wrote 23 bytes to a.txt");
	assert_false(t[0].stu_calls[0].stc_is_error);
	assert_string_equal(t[0].stu_calls[1].stc_result, "message is required");
	assert_true(t[0].stu_calls[1].stc_is_error);
	/* Free text is stored redacted, arguments included. */
	assert_null(strstr(t[0].stu_calls[0].stc_arguments, "hunter22"));
	assert_non_null(strstr(t[0].stu_calls[0].stc_arguments, "[REDACTED]"));
	/* A run without turns has none. */
	task_with_run(f, 2, "running", 3, 0, "running", "anthropic", 1, 0);
	assert_int_equal(store_turns_of_run(f->db, 2, &f->a, &t, &n, &st), 0);
	assert_int_equal(n, 0);
}

static void a_turn_is_recorded_once(void **state)
{
	struct fixture *f = *state;
	struct store_turn again = {2, 3, "other", "end_turn", "", NULL, 0};
	struct store_tool_call ghost = {"toolu_9", "read_file", "{}", "x", 0};
	struct store_turn missing = {7, 3, "", "", "", &ghost, 1};
	bbb_status st;

	record_two_turns(f);
	status_clear(&st);
	assert_int_equal(store_turn_insert(f->db, 1, &again, 3000, &st), -1);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
	/* Results for calls that were never recorded are an error, not silence. */
	status_clear(&st);
	assert_int_equal(store_turn_results(f->db, 1, &missing, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	/* The turns go with their run. */
	exec(f, "DELETE FROM tasks WHERE id = 1");
	assert_int_equal(value(f, "SELECT count(*) FROM run_turns"), 0);
	assert_int_equal(value(f, "SELECT count(*) FROM run_tool_calls"), 0);
}

static void calls_left_without_a_result_are_settled_once_as_errors(void **state)
{
	struct fixture *f = *state;
	struct store_tool_call first[] = {{"toolu_1", "write_file", "", "wrote 23 bytes to a.txt", 0}};
	struct store_turn results = {1, 1, "", "", "", first, 1};
	struct store_turn *t;
	size_t n;
	int settled = -1;
	bbb_status st;

	record_two_turns(f);
	status_clear(&st);
	/* The first tool's result was recorded; the server stopped before the second's. */
	assert_int_equal(store_turn_results(f->db, 1, &results, &st), 0);
	assert_int_equal(store_turn_settle_unknown(f->db, 1, "outcome unknown", &settled, &st), 0);
	assert_int_equal(settled, 1);
	assert_int_equal(store_turns_of_run(f->db, 1, &f->a, &t, &n, &st), 0);
	assert_string_equal(t[0].stu_calls[0].stc_result, "wrote 23 bytes to a.txt");
	assert_false(t[0].stu_calls[0].stc_is_error);
	assert_string_equal(t[0].stu_calls[1].stc_result, "outcome unknown");
	assert_true(t[0].stu_calls[1].stc_is_error);
	assert_int_equal(store_turn_settle_unknown(f->db, 1, "outcome unknown", &settled, &st), 0);
	assert_int_equal(settled, 0);
}

static void stop_reasons_and_the_output_limit_are_kept(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__RunAttempt a = BEEBEEBRAIN__V1__RUN_ATTEMPT__INIT, **atts;
	Beebeebrain__V1__TaskRun *run;
	size_t n;
	bbb_status st;

	task_with_run(f, 1, "running", 3, 0, "running", "anthropic", 1, 0);
	a.run_id = 1;
	a.n = 1;
	a.http_status = 200;
	a.stop_reason = "max_tokens";
	status_clear(&st);
	assert_int_equal(store_attempt_end(f->db, &a, &st), 0);
	assert_int_equal(store_run_attempts(f->db, 1, &f->a, &atts, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_string_equal(atts[0]->stop_reason, "max_tokens");
	assert_int_equal(store_run_get(f->db, 1, &f->a, &run, &st), 0);
	assert_int_equal(run->max_output_tokens, 4096); /* a row from before the setting */
	assert_string_equal(run->stop_reason, "");
	run->stop_reason = "length";
	assert_int_equal(store_run_save(f->db, run, &st), 0);
	assert_int_equal(store_run_get(f->db, 1, &f->a, &run, &st), 0);
	assert_string_equal(run->stop_reason, "length");
}

#define I(x) BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_##x

/* What a run's end looks for before it files a review item: the open item
 * of that type for the task, never a closed one or one of another type or
 * task; operator notes (several may be open) give the oldest open one. */
static void the_open_inbox_item_of_a_source_is_found_among_closed_and_other_ones(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__InboxItem *it;
	bbb_status st;

	exec(f, "INSERT INTO inbox_items (id, project_id, source_type, source_id, item_type, title, status, "
		"created_at) VALUES "
		"(1, 1, 'task', 7, 'task_completed', 'old', 'closed', 0),"
		"(2, 1, 'task', 8, 'task_completed', 'other task', 'open', 0),"
		"(3, 1, 'task', 7, 'await_user_input', 'other type', 'open', 0),"
		"(4, 1, 'task', 7, 'task_completed', 'this one', 'open', 0),"
		"(5, 1, 'task', 7, 'operator_note', 'first note', 'open', 0),"
		"(6, 1, 'task', 7, 'operator_note', 'second note', 'open', 0)");
	assert_int_equal(store_inbox_open_for(f->db, I(TASK_COMPLETED), 7, &f->a, &it, &st), 0);
	assert_non_null(it);
	assert_int_equal(it->id, 4);
	assert_int_equal(store_inbox_open_for(f->db, I(INCIDENT), 7, &f->a, &it, &st), 0);
	assert_null(it);
	assert_int_equal(store_inbox_open_for(f->db, I(OPERATOR_NOTE), 7, &f->a, &it, &st), 0);
	assert_non_null(it);
	assert_int_equal(it->id, 5);
	exec(f, "UPDATE inbox_items SET status = 'closed', resolved_at = 1 WHERE id = 4");
	assert_int_equal(store_inbox_open_for(f->db, I(TASK_COMPLETED), 7, &f->a, &it, &st), 0);
	assert_null(it);
}

static void a_broken_database_is_an_error_not_an_empty_answer(void **state)
{
	struct fixture *f = *state;
	struct store_due_run *due;
	struct store_status_change *ch;
	size_t n;
	int more;
	int64_t count;
	bbb_status st;

	exec(f, "DROP TABLE run_attempts; DROP TABLE task_runs");
	status_clear(&st);
	assert_int_equal(store_run_due_list(f->db, 0, 10, &f->a, &due, &n, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "task_runs"));
	status_clear(&st);
	assert_int_equal(store_run_held_count(f->db, "anthropic", 0, &count, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	exec(f, "DROP TABLE events");
	status_clear(&st);
	assert_int_equal(store_event_status_changes(f->db, 0, 10, &f->a, &ch, &n, &more, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(due_runs_come_by_priority_then_age_and_only_of_running_tasks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_runs_lost_calls_are_closed_and_counted_without_the_other_runs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			runs_whose_lease_passed_are_listed_oldest_first_but_never_the_servers_own, setup, teardown),
		cmocka_unit_test_setup_teardown(a_lease_is_taken_at_the_version_read_and_renewed_only_for_its_owner,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_run_that_stops_running_lets_go_of_its_lease_in_the_same_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(exec_settings_come_from_the_agent_the_project_and_the_attempts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(held_runs_are_the_due_ones_of_the_provider, setup, teardown),
		cmocka_unit_test_setup_teardown(status_changes_are_read_in_pages_after_an_id, setup, teardown),
		cmocka_unit_test_setup_teardown(autorun_takes_todo_tasks_with_an_assignee_whose_prerequisites_are_done,
						setup, teardown),
		cmocka_unit_test_setup_teardown(detectors_find_costs_idle_repeating_and_failing_work, setup, teardown),
		cmocka_unit_test_setup_teardown(a_call_is_recorded_when_it_starts_and_completed_when_it_ends, setup,
						teardown),
		cmocka_unit_test_setup_teardown(usage_keeps_cache_tokens_and_counts_unpriced_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(usage_totals_stay_integers_held_at_int64_max, setup, teardown),
		cmocka_unit_test_setup_teardown(recovery_closes_and_counts_every_call_lost_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(turns_are_read_back_in_order_with_their_calls_and_results, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_turn_is_recorded_once, setup, teardown),
		cmocka_unit_test_setup_teardown(calls_left_without_a_result_are_settled_once_as_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stop_reasons_and_the_output_limit_are_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(the_open_inbox_item_of_a_source_is_found_among_closed_and_other_ones,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_broken_database_is_an_error_not_an_empty_answer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
