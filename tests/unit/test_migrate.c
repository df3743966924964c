/*
 * Schema migrations (src/store/migrate.c), on real database files.
 *
 * Most tests use a small migration set of their own, so that what is checked
 * (rows kept across down/up, rollback of a failing script, refusal of a
 * tampered or newer database) does not depend on the real schema. The last
 * tests run the builtin set: from empty to latest, back to zero, and up again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/status.h"
#include "store/migrate.h"
#include "store/store.h"
#include "unit_db.h"

static const struct migration test_migrations[] = {
	{1, "create_a",
	 "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT NOT NULL);\n"
	 "INSERT INTO a (v) VALUES ('one'), ('two');\n",
	 "DROP TABLE a;\n"},
	{2, "create_b",
	 "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL REFERENCES a(id));\n"
	 "ALTER TABLE b ADD COLUMN note TEXT NOT NULL DEFAULT '';\n"
	 "CREATE INDEX b_a ON b (a_id);\n",
	 "DROP TABLE b;\n"},
	/* Fails on its third statement, after two that succeed. */
	{3, "broken",
	 "CREATE TABLE c (x INTEGER);\n"
	 "INSERT INTO c VALUES (1);\n"
	 "INSERT INTO no_such_table VALUES (1);\n",
	 "DROP TABLE c;\n"},
};

static const struct migration_set test_set = {test_migrations, 2};
static const struct migration_set test_set_broken = {test_migrations, 3};

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
};

static void remove_dir(const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* A connection configured like the server's: WAL, foreign keys on. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	bbb_status st;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/bbb-test-migrate-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/test.db", f->dir);
	assert_int_equal(store_conn_open(f->path, 0, 1, 5000, &f->db, &st), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_conn_close(f->db);
	remove_dir(f->dir);
	free(f);
	return 0;
}

static int64_t query_int(struct db *db, const char *sql)
{
	struct db_stmt *stmt;
	int64_t v = -1;

	assert_int_equal(unit_prepare(db, sql, &stmt), SQLITE_OK);
	if (db_step(stmt) == DB_ROW)
		v = db_col_i64(stmt, 0);
	store_release(stmt);
	return v;
}

static int has_table(struct db *db, const char *name)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", name);
	return query_int(db, sql) == 1;
}

static void exec_ok(struct db *db, const char *sql)
{
	assert_int_equal(db_exec(db, sql), SQLITE_OK);
}

static void up_all(struct db *db, const struct migration_set *set)
{
	bbb_status st;
	int applied;

	status_clear(&st);
	assert_int_equal(migrate_up(db, set, 0, &applied, &st), 0);
	assert_int_equal(applied, set->count);
}

static void checksum_is_fnv1a_64_in_lower_hex(void **state)
{
	char buf[17];

	(void)state;
	migrate_checksum("", buf);
	assert_string_equal(buf, "cbf29ce484222325");
	migrate_checksum("a", buf);
	assert_string_equal(buf, "af63dc4c8601ec8c");
}

static void check_of_empty_database_creates_bookkeeping_and_reports_all_pending(void **state)
{
	struct fixture *f = *state;
	struct migrate_state ms;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_true(has_table(f->db, "schema_migrations"));
	assert_int_equal(ms.current, 0);
	assert_int_equal(ms.latest, 2);
	assert_int_equal(ms.pending, 2);
}

static void up_applies_every_pending_migration_in_order(void **state)
{
	struct fixture *f = *state;
	struct migrate_state ms;
	bbb_status st;
	char sum[17], sql[256];

	up_all(f->db, &test_set);
	assert_true(has_table(f->db, "a"));
	assert_true(has_table(f->db, "b"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM a"), 2);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_migrations"), 2);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_migrations WHERE applied_at > 0"), 2);

	migrate_checksum(test_migrations[1].up_sql, sum);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM schema_migrations WHERE version = 2 AND name = 'create_b' AND checksum = '%s'",
		 sum);
	assert_int_equal(query_int(f->db, sql), 1);

	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_int_equal(ms.current, 2);
	assert_int_equal(ms.pending, 0);
}

static void up_when_nothing_is_pending_applies_nothing(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int applied = -1;

	up_all(f->db, &test_set);
	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 0, &applied, &st), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM a"), 2);
}

static void up_with_a_count_applies_only_that_many(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int applied;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 1, &applied, &st), 0);
	assert_int_equal(applied, 1);
	assert_true(has_table(f->db, "a"));
	assert_false(has_table(f->db, "b"));
}

static void down_then_up_keeps_rows_of_earlier_migrations_and_recreates_later_ones(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int n;

	up_all(f->db, &test_set);
	exec_ok(f->db, "INSERT INTO a (v) VALUES ('three'); INSERT INTO b (a_id, note) VALUES (3, 'x');");

	status_clear(&st);
	assert_int_equal(migrate_down(f->db, &test_set, 1, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_false(has_table(f->db, "b"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM a"), 3);
	assert_int_equal(query_int(f->db, "SELECT max(version) FROM schema_migrations"), 1);

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 0, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM a"), 3);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM b"), 0);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_table_info('b') WHERE name = 'note'"), 1);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'b_a'"),
			 1);
}

static void down_of_zero_means_one_and_more_than_applied_means_all(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int n;

	up_all(f->db, &test_set);
	status_clear(&st);
	assert_int_equal(migrate_down(f->db, &test_set, 0, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_int_equal(migrate_down(f->db, &test_set, 10, &n, &st), 0);
	assert_int_equal(n, 1);
	assert_false(has_table(f->db, "a"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_migrations"), 0);
	assert_int_equal(migrate_down(f->db, &test_set, 1, &n, &st), 0);
	assert_int_equal(n, 0);
}

static void status_lists_every_migration_with_its_applied_flag(void **state)
{
	struct fixture *f = *state;
	struct migrate_row rows[4];
	struct migrate_state ms;
	bbb_status st;
	char sum[17];
	int n, applied;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 1, &applied, &st), 0);
	assert_int_equal(migrate_status(f->db, &test_set, rows, 4, &n, &ms, &st), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].version, 1);
	assert_string_equal(rows[0].name, "create_a");
	assert_int_equal(rows[0].applied, 1);
	assert_true(rows[0].applied_at_ms > 1600000000000LL);
	migrate_checksum(test_migrations[0].up_sql, sum);
	assert_string_equal(rows[0].checksum, sum);
	assert_int_equal(rows[1].version, 2);
	assert_string_equal(rows[1].name, "create_b");
	assert_int_equal(rows[1].applied, 0);
	assert_int_equal(rows[1].applied_at_ms, 0);
	assert_int_equal(ms.current, 1);
	assert_int_equal(ms.latest, 2);
	assert_int_equal(ms.pending, 1);
}

static void status_with_too_few_rows_is_refused(void **state)
{
	struct fixture *f = *state;
	struct migrate_row rows[1];
	struct migrate_state ms;
	bbb_status st;
	int n;

	status_clear(&st);
	assert_int_equal(migrate_status(f->db, &test_set, rows, 1, &n, &ms, &st), -1);
	assert_int_equal(st.code, BBB_INTERNAL);
}

static void tampered_checksum_is_refused_with_schema_mismatch(void **state)
{
	struct fixture *f = *state;
	struct migrate_row rows[4];
	struct migrate_state ms;
	bbb_status st;
	int n;

	up_all(f->db, &test_set);
	exec_ok(f->db, "UPDATE schema_migrations SET checksum = '0123456789abcdef' WHERE version = 1");

	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), -1);
	assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
	assert_string_equal(st.reason, "SCHEMA_MISMATCH");
	assert_non_null(strstr(st.message, "migration 1 (create_a) was changed after it was applied: checksum "
					   "0123456789abcdef in database"));

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 0, &n, &st), -1);
	assert_string_equal(st.reason, "SCHEMA_MISMATCH");
	status_clear(&st);
	assert_int_equal(migrate_down(f->db, &test_set, 1, &n, &st), -1);
	assert_string_equal(st.reason, "SCHEMA_MISMATCH");
	assert_int_equal(n, 0);
	assert_true(has_table(f->db, "b"));

	/* status still shows the table, next to the error */
	status_clear(&st);
	assert_int_equal(migrate_status(f->db, &test_set, rows, 4, &n, &ms, &st), -1);
	assert_string_equal(st.reason, "SCHEMA_MISMATCH");
	assert_int_equal(n, 2);
	assert_int_equal(rows[1].applied, 1);
}

static void newer_database_is_refused_with_schema_mismatch(void **state)
{
	struct fixture *f = *state;
	struct migrate_state ms;
	bbb_status st;
	int n;

	up_all(f->db, &test_set);
	exec_ok(f->db, "INSERT INTO schema_migrations VALUES (99, 'future', '0000000000000000', 1)");

	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), -1);
	assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
	assert_string_equal(st.reason, "SCHEMA_MISMATCH");
	assert_string_equal(st.message, "database schema version 99 is newer than this binary (latest 2); use a newer "
					"beebeebrain");
	assert_int_equal(ms.current, 99);
	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 0, &n, &st), -1);
	assert_string_equal(st.reason, "SCHEMA_MISMATCH");
}

static void failing_up_script_rolls_back_entirely(void **state)
{
	struct fixture *f = *state;
	struct migrate_state ms;
	bbb_status st;
	int applied;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set_broken, 0, &applied, &st), -1);
	assert_int_equal(applied, 2);
	assert_int_equal(st.code, BBB_INTERNAL);
	assert_non_null(strstr(st.message, "migration 3 (broken) up failed"));
	assert_non_null(strstr(st.message, "no such table: no_such_table"));

	assert_false(has_table(f->db, "c"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_migrations WHERE version = 3"), 0);
	assert_int_equal(query_int(f->db, "PRAGMA foreign_keys"), 1);
	assert_true(!db_in_transaction(f->db));
	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &test_set_broken, &ms, &st), 0);
	assert_int_equal(ms.current, 2);
	assert_int_equal(ms.pending, 1);
}

static void migration_leaving_a_foreign_key_violation_is_rolled_back(void **state)
{
	static const struct migration dangling[] = {
		{1, "create_a", "CREATE TABLE a (id INTEGER PRIMARY KEY);", "DROP TABLE a;"},
		{2, "dangling", "CREATE TABLE b (a_id INTEGER REFERENCES a(id)); INSERT INTO b VALUES (42);",
		 "DROP TABLE b;"},
	};
	static const struct migration_set set = {dangling, 2};
	struct fixture *f = *state;
	bbb_status st;
	int applied;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &set, 0, &applied, &st), -1);
	assert_int_equal(applied, 1);
	assert_non_null(strstr(st.message, "migration 2 (dangling) up would leave a foreign key violation"));
	assert_false(has_table(f->db, "b"));
	assert_int_equal(query_int(f->db, "PRAGMA foreign_keys"), 1);
}

static void script_ending_the_transaction_itself_is_reported(void **state)
{
	static const struct migration committing[] = {
		{1, "commits", "CREATE TABLE a (id INTEGER); COMMIT;", "DROP TABLE a;"},
	};
	static const struct migration_set set = {committing, 1};
	struct fixture *f = *state;
	bbb_status st;
	int applied;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &set, 0, &applied, &st), -1);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(st.message, "must not BEGIN, COMMIT or ROLLBACK"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_migrations"), 0);
}

static void malformed_set_is_refused(void **state)
{
	static const struct migration unordered[] = {
		{2, "two", "SELECT 1;", "SELECT 1;"},
		{1, "one", "SELECT 1;", "SELECT 1;"},
	};
	static const struct migration_set set = {unordered, 2};
	struct fixture *f = *state;
	bbb_status st;
	int applied;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &set, 0, &applied, &st), -1);
	assert_int_equal(st.code, BBB_INTERNAL);
}

/* ---- the real schema ---- */

static const char *const spec_tables[] = {
	"projects", "agents",          "tasks",  "task_dependencies", "task_runs", "run_attempts",
	"events",   "api_usage_daily", "alerts", "inbox_items",
};

/* migrate_builtin_for picks the engine's set; both sets have the same
 * versions and names, so `migrate status` reads the same on both engines. */
static void builtin_sets_of_both_engines_have_the_same_versions_and_names(void **state)
{
	struct fixture *f = *state;
	struct migration_set sq = migrate_builtin_for(f->db), all = migrate_builtin();

	assert_ptr_equal(sq.m, all.m);
	assert_int_equal(migrations_builtin_pg_count, all.count);
	for (int i = 0; i < all.count; i++) {
		assert_int_equal(migrations_builtin_pg[i].version, all.m[i].version);
		assert_string_equal(migrations_builtin_pg[i].name, all.m[i].name);
	}
}

static void builtin_up_from_empty_creates_the_spec_tables(void **state)
{
	struct fixture *f = *state;
	struct migration_set set = migrate_builtin();
	struct migrate_state ms;
	struct db_stmt *stmt;
	bbb_status st;

	assert_true(set.count >= 1);
	up_all(f->db, &set);
	for (size_t i = 0; i < sizeof(spec_tables) / sizeof(spec_tables[0]); i++) {
		if (!has_table(f->db, spec_tables[i]))
			fail_msg("table %s missing", spec_tables[i]);
	}
	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &set, &ms, &st), 0);
	assert_int_equal(ms.current, set.m[set.count - 1].version);
	assert_int_equal(ms.pending, 0);

	assert_int_equal(unit_prepare(f->db, "PRAGMA integrity_check", &stmt), SQLITE_OK);
	assert_int_equal(db_step(stmt), DB_ROW);
	assert_string_equal(db_col_text(stmt, 0), "ok");
	store_release(stmt);
	assert_int_equal(unit_prepare(f->db, "PRAGMA foreign_key_check", &stmt), SQLITE_OK);
	assert_int_equal(db_step(stmt), DB_DONE);
	store_release(stmt);
}

static void builtin_down_to_zero_leaves_no_application_tables_and_up_works_again(void **state)
{
	struct fixture *f = *state;
	struct migration_set set = migrate_builtin();
	bbb_status st;
	int n;

	up_all(f->db, &set);
	exec_ok(f->db, "INSERT INTO events (event_type, created_at, payload) VALUES ('x', 1, x'00')");

	status_clear(&st);
	assert_int_equal(migrate_down(f->db, &set, set.count, &n, &st), 0);
	assert_int_equal(n, set.count);
	/* sqlite_sequence (from AUTOINCREMENT) cannot be dropped; it is SQLite's. */
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'index', "
					  "'view', 'trigger') AND name NOT LIKE 'sqlite_%' AND "
					  "tbl_name NOT IN ('schema_migrations', 'schema_hold')"),
			 0);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_migrations"), 0);

	up_all(f->db, &set);
	assert_true(has_table(f->db, "tasks"));
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM events"), 0);
}

static void down_holds_the_schema_at_the_version_it_leaves_and_up_to_latest_releases_it(void **state)
{
	struct fixture *f = *state;
	struct migrate_state ms;
	bbb_status st;
	int n;

	up_all(f->db, &test_set);
	status_clear(&st);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_false(ms.held);

	assert_int_equal(migrate_down(f->db, &test_set, 2, &n, &st), 0);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_true(ms.held);
	assert_int_equal(ms.held_version, 0);
	assert_true(ms.held_at_ms > 0);

	/* A partial up moves the hold with it: still held, one level higher. */
	assert_int_equal(migrate_up(f->db, &test_set, 1, &n, &st), 0);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_true(ms.held);
	assert_int_equal(ms.held_version, 1);

	assert_int_equal(migrate_up(f->db, &test_set, 0, &n, &st), 0);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_false(ms.held);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM schema_hold"), 0);
}

static void a_database_never_rolled_back_is_not_held(void **state)
{
	struct fixture *f = *state;
	struct migrate_state ms;
	bbb_status st;
	int n;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 1, &n, &st), 0);
	assert_int_equal(migrate_check(f->db, &test_set, &ms, &st), 0);
	assert_int_equal(ms.pending, 1);
	assert_false(ms.held);
	assert_false(has_table(f->db, "schema_hold"));
}

/* Migration 6 widens agents.model_provider's CHECK in place: claude_code is
 * admitted, other names are still refused, a column an earlier migration
 * added to agents survives (a table rebuild would have dropped it), and the
 * way back is refused while an agent is on claude_code. */
static void builtin_claude_code_migration_widens_the_check_and_keeps_added_columns(void **state)
{
	struct fixture *f = *state;
	struct migration_set set = migrate_builtin();
	static const char agent[] = "INSERT INTO agents (project_id, name, role, model_provider, model_name, "
				    "created_at, updated_at) VALUES (1, '%s', 'r', '%s', 'm', 1, 1)";
	char sql[512];
	int before = -1, n;
	bbb_status st;

	for (int i = 0; i < set.count && before < 0; i++)
		if (set.m[i].version == 6)
			before = i;
	assert_true(before >= 0);
	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &set, before, &n, &st), 0);
	exec_ok(f->db, "ALTER TABLE agents ADD COLUMN added_before TEXT NOT NULL DEFAULT 'kept'");
	exec_ok(f->db, "INSERT INTO projects (name, root_path, created_at, updated_at) VALUES ('p', '/w', 1, 1)");
	snprintf(sql, sizeof(sql), agent, "a", "claude_code");
	assert_int_equal(db_exec(f->db, sql), SQLITE_CONSTRAINT);

	assert_int_equal(migrate_up(f->db, &set, 1, &n, &st), 0);
	exec_ok(f->db, sql);
	snprintf(sql, sizeof(sql), agent, "b", "gemini");
	assert_int_equal(db_exec(f->db, sql), SQLITE_CONSTRAINT);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM agents WHERE added_before = 'kept'"), 1);
	assert_false(has_table(f->db, "migration_0006_check"));

	/* Down while the agent is there: refused, nothing changed. */
	assert_int_equal(migrate_down(f->db, &set, 1, &n, &st), -1);
	assert_non_null(strstr(st.message, "no_agent_is_on_claude_code"));
	snprintf(sql, sizeof(sql), agent, "c", "claude_code");
	exec_ok(f->db, sql);
	exec_ok(f->db, "DELETE FROM agents WHERE model_provider = 'claude_code'");
	status_clear(&st);
	assert_int_equal(migrate_down(f->db, &set, 1, &n, &st), 0);
	assert_int_equal(db_exec(f->db, sql), SQLITE_CONSTRAINT);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM pragma_table_info('agents') WHERE name = "
					  "'added_before'"),
			 1);
}

/* The CREATE statements of the events table's indexes, by name, into buf. */
static void event_indexes(struct db *db, char *buf, size_t size)
{
	struct db_stmt *stmt;

	buf[0] = '\0';
	assert_int_equal(unit_prepare(db,
				      "SELECT sql FROM sqlite_master WHERE type = 'index' AND "
				      "tbl_name = 'events' AND sql IS NOT NULL ORDER BY name",
				      &stmt),
			 SQLITE_OK);
	while (db_step(stmt) == DB_ROW) {
		assert_true(strlen(buf) + (size_t)db_col_bytes(stmt, 0) + 2 < size);
		strcat(buf, db_col_text(stmt, 0));
		strcat(buf, ";");
	}
	store_release(stmt);
}

/* Migration 9 leaves events one index, (event_type, id), keeps the rows,
 * and its down brings back the four it dropped exactly as they were. */
static void builtin_event_index_migration_keeps_one_index_and_down_restores_the_rest(void **state)
{
	struct fixture *f = *state;
	struct migration_set set = migrate_builtin();
	char before[2048], after[2048];
	int at = -1, n;
	bbb_status st;

	for (int i = 0; i < set.count && at < 0; i++)
		if (set.m[i].version == 9)
			at = i;
	assert_true(at >= 0);
	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &set, at, &n, &st), 0);
	exec_ok(f->db, "INSERT INTO events (event_type, task_id, created_at, payload) VALUES ('x', 3, 1, x'00')");
	event_indexes(f->db, before, sizeof(before));
	assert_non_null(strstr(before, "events_task"));
	assert_non_null(strstr(before, "events_type_created"));

	assert_int_equal(migrate_up(f->db, &set, 1, &n, &st), 0);
	event_indexes(f->db, after, sizeof(after));
	assert_string_equal(after, "CREATE INDEX events_type ON events (event_type, id);");
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM events WHERE task_id = 3"), 1);

	assert_int_equal(migrate_down(f->db, &set, 1, &n, &st), 0);
	event_indexes(f->db, after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(query_int(f->db, "SELECT count(*) FROM events WHERE task_id = 3"), 1);
}

static void current_version_is_the_highest_applied_one(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int applied, version = -1;

	status_clear(&st);
	assert_int_equal(migrate_up(f->db, &test_set, 1, &applied, &st), 0);
	assert_int_equal(migrate_current_version(f->db, &version, &st), 0);
	assert_int_equal(version, test_migrations[0].version);
	assert_int_equal(migrate_up(f->db, &test_set, 0, &applied, &st), 0);
	assert_int_equal(migrate_current_version(f->db, &version, &st), 0);
	assert_int_equal(version, test_migrations[1].version);
	exec_ok(f->db, "DELETE FROM schema_migrations");
	assert_int_equal(migrate_current_version(f->db, &version, &st), 0);
	assert_int_equal(version, 0);
}

/* Readiness asks on a reader: it must not create the table, and a database
 * without it is reported, not taken for version 0. */
static void current_version_of_a_database_without_bookkeeping_is_an_error(void **state)
{
	struct fixture *f = *state;
	bbb_status st;
	int version = -1;

	status_clear(&st);
	assert_int_equal(migrate_current_version(f->db, &version, &st), -1);
	assert_string_equal(st.reason, "INTERNAL_ERROR");
	assert_non_null(strstr(st.message, "schema_migrations"));
	assert_false(has_table(f->db, "schema_migrations"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(checksum_is_fnv1a_64_in_lower_hex),
		T(check_of_empty_database_creates_bookkeeping_and_reports_all_pending),
		T(up_applies_every_pending_migration_in_order),
		T(up_when_nothing_is_pending_applies_nothing),
		T(up_with_a_count_applies_only_that_many),
		T(down_then_up_keeps_rows_of_earlier_migrations_and_recreates_later_ones),
		T(down_of_zero_means_one_and_more_than_applied_means_all),
		T(status_lists_every_migration_with_its_applied_flag),
		T(status_with_too_few_rows_is_refused),
		T(tampered_checksum_is_refused_with_schema_mismatch),
		T(newer_database_is_refused_with_schema_mismatch),
		T(failing_up_script_rolls_back_entirely),
		T(migration_leaving_a_foreign_key_violation_is_rolled_back),
		T(script_ending_the_transaction_itself_is_reported),
		T(malformed_set_is_refused),
		T(builtin_sets_of_both_engines_have_the_same_versions_and_names),
		T(builtin_up_from_empty_creates_the_spec_tables),
		T(builtin_down_to_zero_leaves_no_application_tables_and_up_works_again),
		T(down_holds_the_schema_at_the_version_it_leaves_and_up_to_latest_releases_it),
		T(a_database_never_rolled_back_is_not_held),
		T(builtin_claude_code_migration_widens_the_check_and_keeps_added_columns),
		T(builtin_event_index_migration_keeps_one_index_and_down_restores_the_rest),
		T(current_version_is_the_highest_applied_one),
		T(current_version_of_a_database_without_bookkeeping_is_an_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
