/*
 * store/ for the domain tables, on a real database migrated to the binary's
 * schema: optimistic locking, readiness order, agent deletion, the log
 * queries' use of indexes, and the metrics SQL (percentiles, windows).
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

#include "beebeebrain/v1/task.pb-c.h"
#include "common/arena.h"
#include "common/pbtext.h"
#include "common/status.h"
#include "domain/task_graph.h"
#include "store/agent_store.h"
#include "store/log_store.h"
#include "store/metrics_store.h"
#include "store/migrate.h"
#include "store/project_store.h"
#include "store/store.h"
#include "store/task_store.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

struct fixture {
	char dir[UNIT_DB_DIR_MAX];
	struct db *db;
	struct arena a;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	unit_db_open(f->dir, "domain", &f->db);
	assert_int_equal(db_exec(f->db, "INSERT INTO projects (id, name, root_path, created_at, updated_at) VALUES "
					"(1, 'p', '/tmp/p', 0, 0), (2, 'q', '/tmp/q', 0, 0)"),
			 DB_OK);
	arena_init(&f->a);
	*state = f;
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

static void exec(struct fixture *f, const char *sql)
{
	if (db_exec(f->db, sql) != DB_OK)
		fail_msg("%s: %s", sql, db_errmsg(f->db));
}

static int64_t add_task(struct fixture *f, int64_t project, const char *title, int priority, int64_t parent)
{
	Beebeebrain__V1__Task *t = (void *)arena_message(&f->a, &beebeebrain__v1__task__descriptor);
	bbb_status st;

	t->project_id = project;
	t->title = (char *)title;
	t->status = T(TODO);
	t->priority = priority;
	t->parent_task_id = parent;
	assert_int_equal(store_task_insert(f->db, t, &st), 0);
	return t->id;
}

static void a_save_on_a_stale_version_is_a_conflict_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Task *a, *b, *now;
	int64_t id = add_task(f, 1, "shared", 3, 0);
	bbb_status st;

	/* Two readers hold version 1; the first save wins, the second is refused. */
	assert_int_equal(store_task_get(f->db, id, &f->a, &a, &st), 0);
	assert_int_equal(store_task_get(f->db, id, &f->a, &b, &st), 0);
	a->title = "first";
	b->title = "second";
	assert_int_equal(store_task_save(f->db, a, &st), 0);
	assert_int_equal(a->version, 2);
	status_clear(&st);
	assert_int_equal(store_task_save(f->db, b, &st), -1);
	assert_int_equal(st.code, BBB_ABORTED);
	assert_string_equal(st.reason, "TASK_VERSION_CONFLICT");
	assert_int_equal(store_task_get(f->db, id, &f->a, &now, &st), 0);
	assert_string_equal(now->title, "first");
	assert_int_equal(now->version, 2);
}

static int ready(const struct task_readiness *r)
{
	return task_is_ready(r->tr_status, r->tr_parent, r->tr_deps, r->tr_n_deps);
}

static void ready_tasks_come_by_priority_then_age_without_blocked_ones(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Task **out;
	size_t n;
	bbb_status st;
	int64_t low = add_task(f, 1, "low", 5, 0);
	int64_t urgent_old = add_task(f, 1, "urgent old", 1, 0);
	int64_t urgent_new = add_task(f, 1, "urgent new", 1, 0);
	int64_t dep = add_task(f, 1, "dependency", 2, 0);
	int64_t waits = add_task(f, 1, "waits for dependency", 1, 0);
	int64_t parent = add_task(f, 1, "parent", 4, 0);
	int64_t child = add_task(f, 1, "child", 1, parent);
	int64_t key[TASK_WALK_KEY];
	char sql[160];
	int more;

	add_task(f, 2, "other project", 1, 0);
	snprintf(sql, sizeof(sql), "INSERT INTO task_dependencies VALUES (%lld, %lld, 'finish_to_start', 0)",
		 (long long)waits, (long long)dep);
	exec(f, sql);
	/* Same created_at for the urgent pair would tie: make the order explicit. */
	snprintf(sql, sizeof(sql), "UPDATE tasks SET created_at = created_at - 1000 WHERE id = %lld",
		 (long long)urgent_old);
	exec(f, sql);

	assert_int_equal(store_task_todo_walk(f->db, 1, ready, NULL, 50, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 5);
	assert_false(more);
	assert_int_equal(out[0]->id, urgent_old);
	assert_int_equal(out[1]->id, urgent_new);
	assert_int_equal(out[2]->id, dep);
	assert_int_equal(out[3]->id, parent);
	assert_int_equal(out[4]->id, low);

	/* Dependency and parent done: both waiting tasks become ready. */
	snprintf(sql, sizeof(sql), "UPDATE tasks SET status = 'done' WHERE id IN (%lld, %lld)", (long long)dep,
		 (long long)parent);
	exec(f, sql);
	assert_int_equal(store_task_todo_walk(f->db, 1, ready, NULL, 3, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 3);
	assert_true(more);
	assert_int_equal(out[0]->id, urgent_old);
	assert_int_equal(out[1]->id, urgent_new);
	assert_int_equal(out[2]->id, waits); /* same priority and age as child: by id */
	/* The next page continues after the last task's sort key. */
	store_task_walk_key(out[2], key);
	assert_int_equal(store_task_todo_walk(f->db, 1, ready, key, 3, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 2);
	assert_false(more);
	assert_int_equal(out[0]->id, child);
	assert_int_equal(out[1]->id, low);
}

/* A task of `project` whose description is `bytes` long. */
static int64_t add_big_task(struct fixture *f, int64_t project, size_t bytes)
{
	Beebeebrain__V1__Task *t = (void *)arena_message(&f->a, &beebeebrain__v1__task__descriptor);
	bbb_status st;

	t->project_id = project;
	t->title = "big";
	t->description = arena_alloc(&f->a, bytes + 1);
	memset(t->description, 'd', bytes);
	t->status = T(TODO);
	t->priority = 3;
	assert_int_equal(store_task_insert(f->db, t, &st), 0);
	return t->id;
}

/* The encoded size of a page of tasks, as a repeated field. */
static size_t page_bytes(Beebeebrain__V1__Task **out, size_t n)
{
	Beebeebrain__V1__ListTasksResponse r = BEEBEEBRAIN__V1__LIST_TASKS_RESPONSE__INIT;

	r.tasks = out;
	r.n_tasks = n;
	return beebeebrain__v1__list_tasks_response__get_packed_size(&r);
}

static void task_pages_stop_at_the_byte_budget_and_always_move_on(void **state)
{
	struct fixture *f = *state;
	struct task_filter all = {0};
	Beebeebrain__V1__Task **out;
	int64_t ids[6], after = 0;
	size_t n, got = 0;
	bbb_status st;
	int more = 1, pages = 0;

	/* 1.5 MiB rows: two fit a page, three do not; then one row bigger than
	 * a whole page, which must come alone rather than stop the paging. */
	for (int i = 0; i < 5; i++)
		ids[i] = add_big_task(f, 1, (size_t)1536 * 1024);
	ids[5] = add_big_task(f, 1, STORE_PAGE_BYTES + 1024);
	while (more) {
		assert_int_equal(store_task_list(f->db, &all, after, 100, &f->a, &out, &n, &more, &st), 0);
		assert_true(n >= 1);
		assert_true(n == 1 || page_bytes(out, n) <= STORE_PAGE_BYTES);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(out[i]->id, ids[got++]);
		after = out[n - 1]->id;
		pages++;
		assert_true(pages <= 6);
	}
	assert_int_equal(got, 6);
	assert_int_equal(pages, 4); /* 2 + 2 + 1 (the next one is too big to join it) + 1 */

	/* The ready list is capped the same way. */
	assert_int_equal(store_task_todo_walk(f->db, 1, ready, NULL, 100, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 2);
	assert_true(more);
}

static void a_page_counts_text_at_its_repaired_size(void **state)
{
	struct fixture *f = *state;
	struct task_filter all = {0};
	Beebeebrain__V1__ListTasksResponse r = BEEBEEBRAIN__V1__LIST_TASKS_RESPONSE__INIT;
	Beebeebrain__V1__Task **out;
	size_t n, len = (size_t)700 * 1024;
	char *bad = malloc(len);
	sqlite3_stmt *stmt; /* SQLite's own: text of a given length, not NUL-terminated */
	bbb_status st;
	int more;

	/* Bytes that are not UTF-8 (a model's text cut at a byte limit): each
	 * becomes U+FFFD, three bytes, in the reply. Five such rows are 3.5 MiB
	 * as stored and 10.5 MiB as sent. */
	memset(bad, 0xff, len);
	assert_int_equal(
		sqlite3_prepare_v2(db_sqlite(f->db),
				   "INSERT INTO tasks (project_id, title, description, status, priority, "
				   "created_at, updated_at, version) VALUES (1, 'bad', ?1, 'todo', 3, 0, 0, 1)",
				   -1, &stmt, NULL),
		SQLITE_OK);
	sqlite3_bind_text(stmt, 1, bad, (int)len, SQLITE_STATIC);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
		sqlite3_reset(stmt);
	}
	sqlite3_finalize(stmt);
	free(bad);
	assert_int_equal(store_task_list(f->db, &all, 0, 100, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	r.tasks = out;
	r.n_tasks = n;
	assert_true(protobuf_c_message_get_packed_size(pbtext_repair_copy(&r.base, &f->a)) <= STORE_PAGE_BYTES);
}

static void deleting_an_agent_unassigns_its_tasks_and_raises_their_versions(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__Agent *ag = (void *)arena_message(&f->a, &beebeebrain__v1__agent__descriptor);
	Beebeebrain__V1__Task *t;
	char *tools[] = {"read_file", "write_file"};
	int64_t id = add_task(f, 1, "assigned", 3, 0);
	char sql[128];
	bbb_status st;
	int unassigned;

	ag->project_id = 1;
	ag->name = "coder";
	ag->role = "dev";
	ag->model_provider = "echo";
	ag->model_name = "echo-1";
	ag->persona_prompt = "";
	ag->enabled_tools = tools;
	ag->n_enabled_tools = 2;
	ag->status = BEEBEEBRAIN__V1__AGENT_STATUS__AGENT_STATUS_ACTIVE;
	ag->max_concurrency = 4;
	assert_int_equal(store_agent_insert(f->db, ag, &st), 0);
	/* The same name again in the project is a conflict. */
	assert_int_equal(store_agent_insert(f->db, ag, &st), -1);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
	snprintf(sql, sizeof(sql), "UPDATE tasks SET assignee_agent_id = %lld WHERE id = %lld", (long long)ag->id,
		 (long long)id);
	exec(f, sql);

	assert_int_equal(store_agent_delete(f->db, ag->id, &unassigned, &st), 0);
	assert_int_equal(unassigned, 1);
	assert_int_equal(store_task_get(f->db, id, &f->a, &t, &st), 0);
	assert_int_equal(t->assignee_agent_id, 0);
	assert_int_equal(t->version, 2);
	assert_int_equal(store_agent_get(f->db, ag->id, &f->a, &ag, &st), -1);
	assert_string_equal(st.reason, "AGENT_NOT_FOUND");
}

/* The query plan of a log query uses the named index and scans no table. */
static void expect_plan(struct fixture *f, const struct log_query *q, const char *index)
{
	char sql[2048], plan[1024] = "";
	struct db_stmt *stmt;

	snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", store_log_query_sql(f->db, q));
	assert_int_equal(unit_prepare(f->db, sql, &stmt), SQLITE_OK);
	while (db_step(stmt) == DB_ROW) {
		strncat(plan, db_col_text(stmt, 3), sizeof(plan) - strlen(plan) - 2);
		strcat(plan, ";");
	}
	store_release(stmt);
	if (strstr(plan, index) == NULL)
		fail_msg("plan '%s' does not use %s", plan, index);
	if (strstr(plan, "SCAN run_logs;") != NULL || strstr(plan, "events") != NULL)
		fail_msg("plan '%s' scans a table", plan);
}

static void log_queries_are_served_from_their_indexes(void **state)
{
	struct fixture *f = *state;

	expect_plan(f, &(struct log_query){.lq_run_id = 1, .lq_task_id = 2, .lq_min_level = 3, .lq_limit = 5},
		    "run_logs_run");
	expect_plan(f, &(struct log_query){.lq_task_id = 2, .lq_project_id = 1, .lq_limit = 5}, "run_logs_task");
	expect_plan(f, &(struct log_query){.lq_project_id = 1, .lq_limit = 5}, "run_logs_project");
	expect_plan(f, &(struct log_query){.lq_limit = 5}, "INTEGER PRIMARY KEY");
}

static void log_queries_filter_by_level_and_page_newest_first(void **state)
{
	struct fixture *f = *state;
	static const char *const levels[] = {"debug", "info", "warning", "error"};
	Beebeebrain__V1__LogLine **out;
	struct log_query q = {.lq_run_id = 7, .lq_min_level = 3, .lq_limit = 2};
	size_t n;
	int more;
	bbb_status st;

	for (int i = 0; i < 12; i++) {
		char sql[200];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO run_logs (project_id, task_id, run_id, level, message, created_at) "
			 "VALUES (1, 3, %d, '%s', 'line %d', %d)",
			 i % 2 == 0 ? 7 : 8, levels[i % 4], i, i);
		exec(f, sql);
	}
	/* Run 7 has lines 0, 2, 4, 6, 8, 10 at debug, warning, debug, warning, ... */
	assert_int_equal(store_log_query(f->db, &q, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(out[0]->message, "line 10");
	assert_string_equal(out[1]->message, "line 6");
	q.lq_before_id = out[1]->id;
	assert_int_equal(store_log_query(f->db, &q, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(out[0]->message, "line 2");
	/* The whole task at any level: all 12, newest first. */
	q = (struct log_query){.lq_task_id = 3, .lq_limit = 100};
	assert_int_equal(store_log_query(f->db, &q, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 12);
	assert_string_equal(out[0]->message, "line 11");
}

static void runs_summary_counts_and_percentiles_are_computed_in_sql(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__RunsSummaryResponse s = BEEBEEBRAIN__V1__RUNS_SUMMARY_RESPONSE__INIT;
	int64_t task = add_task(f, 1, "measured", 3, 0);
	int64_t other = add_task(f, 2, "elsewhere", 3, 0);
	bbb_status st;

	/* Twenty succeeded runs lasting 100, 200, ..., 2000 ms, started at 1000 + i. */
	for (int i = 1; i <= 20; i++) {
		char sql[400];
		snprintf(sql, sizeof(sql),
			 "INSERT INTO task_runs (task_id, run_status, attempt, idempotency_key, created_at, "
			 "started_at, ended_at, retry_count, token_in, token_out, cost_usd_micros) VALUES "
			 "(%lld, 'succeeded', %d, 'k%d', 0, %d, %d, %d, 10, 5, 3)",
			 (long long)task, i, i, 1000 + i, 1000 + i + 100 * i, i % 2);
		exec(f, sql);
	}
	/* A queued run (counted by its creation time) and one of another project. */
	exec(f, "INSERT INTO task_runs (task_id, run_status, attempt, idempotency_key, created_at) "
		"VALUES ((SELECT id FROM tasks WHERE title = 'measured'), 'queued', 21, 'q', 5000)");
	{
		char sql[300];
		snprintf(
			sql, sizeof(sql),
			"INSERT INTO task_runs (task_id, run_status, attempt, idempotency_key, created_at, started_at, "
			"ended_at) VALUES (%lld, 'failed', 1, 'o', 0, 1001, 99999)",
			(long long)other);
		exec(f, sql);
	}

	assert_int_equal(store_metrics_runs_summary(f->db, 1, 0, 0, &f->a, &s, &st), 0);
	assert_int_equal(s.total, 21);
	assert_int_equal(s.retries, 10);
	assert_int_equal(s.token_in, 200);
	assert_int_equal(s.token_out, 100);
	assert_int_equal(s.cost_usd_micros, 60);
	assert_int_equal(s.ended, 20);
	assert_int_equal(s.avg_duration_ms, 1050);
	assert_int_equal(s.p50_duration_ms, 1000);
	assert_int_equal(s.p95_duration_ms, 1900);
	assert_int_equal(s.max_duration_ms, 2000);
	assert_int_equal(s.n_by_status, 7);
	assert_int_equal(s.by_status[0]->status, BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_QUEUED);
	assert_int_equal(s.by_status[0]->count, 1);
	assert_int_equal(s.by_status[2]->count, 20);

	/* The window [1005, 1011) holds the runs started at 1005..1010; the queued one is outside. */
	s = (Beebeebrain__V1__RunsSummaryResponse)BEEBEEBRAIN__V1__RUNS_SUMMARY_RESPONSE__INIT;
	assert_int_equal(store_metrics_runs_summary(f->db, 1, 1005, 1011, &f->a, &s, &st), 0);
	assert_int_equal(s.total, 6);
	assert_int_equal(s.p50_duration_ms, 700);
	assert_int_equal(s.max_duration_ms, 1000);
	/* All projects. */
	s = (Beebeebrain__V1__RunsSummaryResponse)BEEBEEBRAIN__V1__RUNS_SUMMARY_RESPONSE__INIT;
	assert_int_equal(store_metrics_runs_summary(f->db, 0, 0, 0, &f->a, &s, &st), 0);
	assert_int_equal(s.total, 22);
	assert_int_equal(s.by_status[3]->count, 1);
}

static void usage_daily_is_newest_first_within_the_filters(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__UsageDay **out;
	struct usage_query q = {"", "", "2026-11-02", "2026-11-03", 0, 10};
	size_t n;
	int more;
	bbb_status st;

	exec(f, "INSERT INTO api_usage_daily (provider, model_name, date, request_count, token_in, token_out, "
		"cost_usd_micros) VALUES "
		"('openai', 'gpt', '2026-11-01', 1, 1, 1, 1), ('openai', 'gpt', '2026-11-02', 2, 2, 2, 2), "
		"('anthropic', 'claude', '2026-11-02', 3, 3, 3, 3), ('openai', 'gpt', '2026-11-03', 4, 4, 4, 4)");
	assert_int_equal(store_metrics_usage_daily(f->db, &q, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 3);
	assert_string_equal(out[0]->date, "2026-11-03");
	assert_string_equal(out[1]->provider, "anthropic");
	assert_string_equal(out[2]->provider, "openai");
	assert_string_equal(out[2]->date, "2026-11-02");
	q = (struct usage_query){"openai", "", "", "", 1, 1};
	assert_int_equal(store_metrics_usage_daily(f->db, &q, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	assert_string_equal(out[0]->date, "2026-11-02");
}

/* A cost total that leaves out calls without a price says so: the metrics
 * carry the count of unpriced calls (and the runs with one) and a flag, next
 * to the cache tokens. */
static void metrics_say_when_a_cost_total_leaves_unpriced_calls_out(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__RunsSummaryResponse s = BEEBEEBRAIN__V1__RUNS_SUMMARY_RESPONSE__INIT;
	Beebeebrain__V1__UsageDay **out;
	struct usage_query q = {"", "", "", "", 0, 10};
	int64_t task = add_task(f, 1, "costed", 3, 0);
	char sql[600];
	size_t n;
	int more;
	bbb_status st;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO task_runs (task_id, run_status, attempt, idempotency_key, created_at, token_in, "
		 "token_out, cost_usd_micros, cache_read_tokens, cache_write_tokens, unpriced_calls) VALUES "
		 "(%lld, 'succeeded', 1, 'priced', 0, 100, 10, 500, 60, 20, 0), "
		 "(%lld, 'succeeded', 2, 'mixed', 0, 100, 10, 200, 0, 0, 2), "
		 "(%lld, 'failed', 3, 'unpriced', 0, 50, 5, 0, 40, 0, 1)",
		 (long long)task, (long long)task, (long long)task);
	exec(f, sql);
	assert_int_equal(store_metrics_runs_summary(f->db, 1, 0, 0, &f->a, &s, &st), 0);
	assert_int_equal(s.cost_usd_micros, 700);
	assert_int_equal(s.cache_read_tokens, 100);
	assert_int_equal(s.cache_write_tokens, 20);
	assert_int_equal(s.unpriced_calls, 3);
	assert_int_equal(s.cost_unknown_runs, 2);
	assert_true(s.cost_unknown);

	exec(f, "INSERT INTO api_usage_daily (provider, model_name, date, request_count, token_in, token_out, "
		"cost_usd_micros, cache_read_tokens, cache_write_tokens, unpriced_calls) VALUES "
		"('openai', 'local-llm', '2026-11-02', 4, 400, 40, 0, 100, 0, 4), "
		"('anthropic', 'claude-sonnet-4', '2026-11-02', 2, 300, 30, 900, 200, 50, 0)");
	assert_int_equal(store_metrics_usage_daily(f->db, &q, &f->a, &out, &n, &more, &st), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0]->model_name, "claude-sonnet-4");
	assert_int_equal(out[0]->cache_read_tokens, 200);
	assert_int_equal(out[0]->cache_write_tokens, 50);
	assert_int_equal(out[0]->unpriced_calls, 0);
	assert_false(out[0]->cost_unknown);
	assert_string_equal(out[1]->model_name, "local-llm");
	assert_int_equal(out[1]->unpriced_calls, 4);
	assert_true(out[1]->cost_unknown);
}

/* Token counts come from providers and are hostile input: totals that would
 * pass INT64_MAX are held there, and the summary still answers (sum() would
 * fail the whole query with "integer overflow"). */
static void runs_summary_holds_huge_totals_at_the_int64_bound(void **state)
{
	struct fixture *f = *state;
	Beebeebrain__V1__RunsSummaryResponse s = BEEBEEBRAIN__V1__RUNS_SUMMARY_RESPONSE__INIT;
	int64_t task = add_task(f, 1, "huge", 3, 0);
	char sql[600];
	bbb_status st;

	snprintf(sql, sizeof(sql),
		 "INSERT INTO task_runs (task_id, run_status, attempt, idempotency_key, created_at, token_in, "
		 "token_out, cost_usd_micros, cache_read_tokens) VALUES "
		 "(%lld, 'succeeded', 1, 'h1', 0, 9223372036854775807, 1, 9223372036854775807, 9223372036854775807), "
		 "(%lld, 'succeeded', 2, 'h2', 0, 9223372036854775807, 2, 5, 1)",
		 (long long)task, (long long)task);
	exec(f, sql);
	status_clear(&st);
	assert_int_equal(store_metrics_runs_summary(f->db, 1, 0, 0, &f->a, &s, &st), 0);
	assert_true(s.token_in == INT64_MAX);
	assert_int_equal(s.token_out, 3);
	assert_true(s.cost_usd_micros == INT64_MAX);
	assert_true(s.cache_read_tokens == INT64_MAX);
	assert_int_equal(s.total, 2);
}

static void project_roots_come_in_id_order(void **state)
{
	struct fixture *f = *state;
	const char **roots;
	bbb_status st;
	size_t n;

	status_clear(&st);
	exec(f, "INSERT INTO projects (id, name, root_path, created_at, updated_at) VALUES (5, 'r', '/tmp/r', 0, 0)");
	assert_int_equal(store_project_roots(f->db, &f->a, &roots, &n, &st), 0);
	assert_int_equal(n, 3);
	assert_string_equal(roots[0], "/tmp/p");
	assert_string_equal(roots[1], "/tmp/q");
	assert_string_equal(roots[2], "/tmp/r");
	exec(f, "DELETE FROM projects");
	assert_int_equal(store_project_roots(f->db, &f->a, &roots, &n, &st), 0);
	assert_int_equal(n, 0);
}

/* A failure is a status from store_fail, not an empty list. */
static void project_roots_report_a_failed_read(void **state)
{
	struct fixture *f = *state;
	const char **roots;
	bbb_status st;
	size_t n;

	status_clear(&st);
	exec(f, "ALTER TABLE projects RENAME TO projects_gone");
	assert_int_equal(store_project_roots(f->db, &f->a, &roots, &n, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "projects"));
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_save_on_a_stale_version_is_a_conflict_and_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(ready_tasks_come_by_priority_then_age_without_blocked_ones, setup,
						teardown),
		cmocka_unit_test_setup_teardown(task_pages_stop_at_the_byte_budget_and_always_move_on, setup, teardown),
		cmocka_unit_test_setup_teardown(a_page_counts_text_at_its_repaired_size, setup, teardown),
		cmocka_unit_test_setup_teardown(deleting_an_agent_unassigns_its_tasks_and_raises_their_versions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(log_queries_are_served_from_their_indexes, setup, teardown),
		cmocka_unit_test_setup_teardown(log_queries_filter_by_level_and_page_newest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(runs_summary_counts_and_percentiles_are_computed_in_sql, setup,
						teardown),
		cmocka_unit_test_setup_teardown(usage_daily_is_newest_first_within_the_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics_say_when_a_cost_total_leaves_unpriced_calls_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(runs_summary_holds_huge_totals_at_the_int64_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(project_roots_come_in_id_order, setup, teardown),
		cmocka_unit_test_setup_teardown(project_roots_report_a_failed_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
