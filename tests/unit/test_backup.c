/*
 * Online backup and offline restore (src/store/backup.c), on real files in a
 * temp dir. The database is migrated with the builtin set (a restore wants
 * schema_migrations) and holds a few projects to count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/status.h"
#include "store/backup.h"
#include "store/migrate.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	char db_path[128];
	char out[160];
	sqlite3 *db;
};

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static sqlite3 *open_db(const char *path)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;");
	return db;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct migration_set set = migrate_builtin();
	struct db *m;
	bbb_status st;
	int applied;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/bbb-test-backup-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db_path, sizeof(f->db_path), "%s/bbb.db", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/copy.bak", f->dir);
	f->db = open_db(f->db_path);
	status_clear(&st);
	assert_int_equal(store_conn_open(f->db_path, 0, 0, 5000, &m, &st), 0);
	assert_int_equal(migrate_up(m, &set, 0, &applied, &st), 0);
	store_conn_close(m);
	exec_ok(f->db, "INSERT INTO projects (name, root_path, created_at, updated_at) VALUES "
		       "('one', '/p/one', 1, 1), ('two', '/p/two', 1, 1);");
	*state = f;
	return 0;
}

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

static int teardown(void **state)
{
	struct fixture *f = *state;

	sqlite3_close(f->db);
	remove_dir(f->dir);
	free(f);
	return 0;
}

/* Restores are offline: no connection may stay open. */
static void close_db(struct fixture *f)
{
	assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
	f->db = NULL;
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static int64_t count_in_file(const char *path, const char *sql)
{
	sqlite3 *db;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	v = query_int(db, sql);
	sqlite3_close(db);
	return v;
}

static int files_containing(const char *dir, const char *part)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, part) != NULL)
			n++;
	closedir(d);
	return n;
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void backup_ok(struct fixture *f)
{
	char integrity[64];
	int64_t size;
	bbb_status st;

	status_clear(&st);
	if (backup_run(f->db, f->out, &size, integrity, sizeof(integrity), &st) < 0)
		fail_msg("backup_run: %s", st.message);
}

static void backup_copies_every_row_and_passes_the_integrity_check(void **state)
{
	struct fixture *f = *state;
	char integrity[64];
	struct stat sb;
	int64_t size = 0;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(backup_run(f->db, f->out, &size, integrity, sizeof(integrity), &st), 0);
	assert_string_equal(integrity, "ok");
	assert_int_equal(stat(f->out, &sb), 0);
	assert_int_equal(size, sb.st_size);
	assert_true(size > 0);
	assert_int_equal(count_in_file(f->out, "SELECT count(*) FROM projects"), 2);
	assert_int_equal(count_in_file(f->out, "SELECT count(*) FROM schema_migrations"), migrate_builtin().count);
}

struct progress_seen {
	int calls, last_done, last_total, went_back;
};

static void progress_record(void *arg, int done, int total)
{
	struct progress_seen *p = arg;

	if (done < p->last_done)
		p->went_back = 1;
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

static void backup_reports_progress_up_to_every_page(void **state)
{
	struct fixture *f = *state;
	struct progress_seen seen = {0};
	struct backup_progress p = {progress_record, &seen};
	char integrity[64];
	int64_t size = 0;
	bbb_status st;

	status_clear(&st);
	assert_int_equal(backup_run_progress(f->db, f->out, &size, integrity, sizeof(integrity), &p, &st), 0);
	assert_true(seen.calls >= 1);
	assert_false(seen.went_back);
	assert_true(seen.last_total > 0);
	assert_int_equal(seen.last_done, seen.last_total);
}

static void backup_is_one_self_contained_file(void **state)
{
	struct fixture *f = *state;
	unsigned char header[20];
	char side[200];
	FILE *fp;

	backup_ok(f);
	fp = fopen(f->out, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(header, 1, sizeof(header), fp), sizeof(header));
	fclose(fp);
	/* file format bytes 18, 19: 1 = rollback journal, 2 = WAL */
	assert_int_equal(header[18], 1);
	assert_int_equal(header[19], 1);
	snprintf(side, sizeof(side), "%s.tmp", f->out);
	assert_false(exists(side));
	snprintf(side, sizeof(side), "%s-wal", f->out);
	assert_false(exists(side));
	snprintf(side, sizeof(side), "%s-journal", f->out);
	assert_false(exists(side));
}

static void backup_refuses_an_existing_out_path(void **state)
{
	struct fixture *f = *state;
	char integrity[64], buf[16] = {0}, tmp[200];
	int64_t size;
	bbb_status st;
	FILE *fp;

	write_file(f->out, "keep me", 7);
	status_clear(&st);
	assert_int_equal(backup_run(f->db, f->out, &size, integrity, sizeof(integrity), &st), -1);
	assert_int_equal(st.code, BBB_ALREADY_EXISTS);
	assert_string_equal(st.reason, "RESOURCE_CONFLICT");
	fp = fopen(f->out, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, sizeof(buf), fp), 7);
	fclose(fp);
	assert_string_equal(buf, "keep me");
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->out);
	assert_false(exists(tmp));
}

/*
 * sqlite3_backup_step() restarts from page 1 whenever another connection
 * commits between two steps. With the snapshot pinned this takes a few
 * milliseconds; without it, seconds to forever, depending on luck.
 */
static void backup_completes_while_another_process_keeps_writing(void **state)
{
	struct fixture *f = *state;
	char integrity[64];
	int64_t size, before;
	bbb_status st;
	pid_t pid;

	/* ~16 MB: several 1024-page steps */
	exec_ok(f->db, "CREATE TABLE filler (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
		       "WHERE i < 4000) INSERT INTO filler SELECT randomblob(4000) FROM n;");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *w;

		if (sqlite3_open(f->db_path, &w) != SQLITE_OK)
			_exit(1);
		sqlite3_busy_timeout(w, 5000);
		for (;;) {
			sqlite3_exec(w, "INSERT INTO events (event_type, created_at, payload) VALUES ('w', 1, x'00')",
				     NULL, NULL, NULL);
			usleep(200);
		}
	}
	while ((before = query_int(f->db, "SELECT count(*) FROM events")) < 20)
		usleep(1000);

	status_clear(&st);
	alarm(120); /* a backup that keeps restarting must fail the test, not hang it */
	assert_int_equal(backup_run(f->db, f->out, &size, integrity, sizeof(integrity), &st), 0);
	alarm(0);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_string_equal(integrity, "ok");
	assert_int_equal(count_in_file(f->out, "SELECT count(*) FROM filler"), 4000);
	assert_true(count_in_file(f->out, "SELECT count(*) FROM events") >= before);
}

static void default_path_is_the_db_path_with_a_utc_stamp(void **state)
{
	char buf[128];

	(void)state;
	backup_default_path("/var/lib/bbb/bbb.db", 1764302706789LL, buf, sizeof(buf));
	assert_string_equal(buf, "/var/lib/bbb/bbb.db.20251128-040506.bak");
	backup_default_path("bbb.db", 0, buf, sizeof(buf));
	assert_string_equal(buf, "bbb.db.19700101-000000.bak");
}

static void restore_swaps_the_file_in_and_keeps_the_old_one(void **state)
{
	struct fixture *f = *state;
	char saved[256];
	struct stat sb;
	bbb_status st;

	backup_ok(f);
	exec_ok(f->db, "INSERT INTO projects (name, root_path, created_at, updated_at) VALUES ('three', '/p/3', 1, 1)");
	close_db(f);
	assert_int_equal(chmod(f->db_path, 0640), 0);

	status_clear(&st);
	if (backup_restore(f->out, f->db_path, saved, sizeof(saved), &st) < 0)
		fail_msg("backup_restore: %s", st.message);
	assert_int_equal(strncmp(saved, f->db_path, strlen(f->db_path)), 0);
	assert_int_equal(strncmp(saved + strlen(f->db_path), ".pre-restore.", 13), 0);
	assert_int_equal(strcmp(saved + strlen(saved) - 4, ".bak"), 0);
	assert_int_equal(count_in_file(f->db_path, "SELECT count(*) FROM projects"), 2);
	assert_int_equal(count_in_file(saved, "SELECT count(*) FROM projects"), 3);
	assert_int_equal(files_containing(f->dir, "restore.tmp"), 0);
	assert_int_equal(stat(f->db_path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	/* the backup itself is left as it was */
	assert_int_equal(count_in_file(f->out, "SELECT count(*) FROM projects"), 2);
}

/* A server that died leaves committed rows in <db>-wal; the saved copy keeps them. */
static void restore_keeps_the_uncheckpointed_wal_with_the_replaced_database(void **state)
{
	struct fixture *f = *state;
	char saved[256], wal[200];
	bbb_status st;
	pid_t pid;

	backup_ok(f);
	close_db(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *w;

		if (sqlite3_open(f->db_path, &w) != SQLITE_OK)
			_exit(1);
		if (sqlite3_exec(w,
				 "PRAGMA wal_autocheckpoint=0; INSERT INTO projects (name, root_path, created_at, "
				 "updated_at) VALUES ('crash', '/p/crash', 1, 1);",
				 NULL, NULL, NULL) != SQLITE_OK)
			_exit(2);
		_exit(0); /* "crash": no close, no checkpoint */
	}
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	snprintf(wal, sizeof(wal), "%s-wal", f->db_path);
	assert_true(exists(wal));

	status_clear(&st);
	if (backup_restore(f->out, f->db_path, saved, sizeof(saved), &st) < 0)
		fail_msg("backup_restore: %s", st.message);
	assert_false(exists(wal));
	assert_int_equal(count_in_file(f->db_path, "SELECT count(*) FROM projects"), 2);
	assert_int_equal(count_in_file(saved, "SELECT count(*) FROM projects WHERE name = 'crash'"), 1);
}

static void assert_restore_refused_and_db_untouched(struct fixture *f, const char *file)
{
	char saved[256] = "x";
	bbb_status st;

	status_clear(&st);
	assert_int_equal(backup_restore(file, f->db_path, saved, sizeof(saved), &st), -1);
	assert_string_equal(st.reason, "BACKUP_FAILED");
	assert_string_equal(saved, "");
	assert_int_equal(count_in_file(f->db_path, "SELECT count(*) FROM projects"), 2);
	assert_int_equal(files_containing(f->dir, "pre-restore"), 0);
	assert_int_equal(files_containing(f->dir, "restore.tmp"), 0);
}

static void restore_refuses_a_garbage_file_without_touching_the_database(void **state)
{
	struct fixture *f = *state;
	char garbage[8192];

	close_db(f);
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (char)(i * 131 + 7);
	write_file(f->out, garbage, sizeof(garbage));
	assert_restore_refused_and_db_untouched(f, f->out);
}

static void restore_refuses_a_corrupt_backup(void **state)
{
	struct fixture *f = *state;
	unsigned char junk[4096];
	FILE *fp;

	backup_ok(f);
	close_db(f);
	/* page 2 is the root of the first table created (schema_migrations) */
	memset(junk, 0x55, sizeof(junk));
	fp = fopen(f->out, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);
	assert_restore_refused_and_db_untouched(f, f->out);
}

static void restore_refuses_a_database_that_is_not_ours(void **state)
{
	struct fixture *f = *state;
	sqlite3 *other;

	close_db(f);
	assert_int_equal(sqlite3_open(f->out, &other), SQLITE_OK);
	exec_ok(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
	sqlite3_close(other);
	assert_restore_refused_and_db_untouched(f, f->out);
}

static void restore_refuses_a_backup_with_a_pending_wal(void **state)
{
	struct fixture *f = *state;
	char wal[200];

	backup_ok(f);
	close_db(f);
	snprintf(wal, sizeof(wal), "%s-wal", f->out);
	write_file(wal, "not empty", 9);
	assert_restore_refused_and_db_untouched(f, f->out);
}

static void restore_refuses_the_database_itself(void **state)
{
	struct fixture *f = *state;

	close_db(f);
	assert_restore_refused_and_db_untouched(f, f->db_path);
}

static void restore_into_a_missing_database_saves_nothing(void **state)
{
	struct fixture *f = *state;
	char saved[256] = "x", fresh[200];
	bbb_status st;

	backup_ok(f);
	close_db(f);
	snprintf(fresh, sizeof(fresh), "%s/fresh.db", f->dir);
	status_clear(&st);
	assert_int_equal(backup_restore(f->out, fresh, saved, sizeof(saved), &st), 0);
	assert_string_equal(saved, "");
	assert_int_equal(count_in_file(fresh, "SELECT count(*) FROM projects"), 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(backup_copies_every_row_and_passes_the_integrity_check),
		T(backup_is_one_self_contained_file),
		T(backup_reports_progress_up_to_every_page),
		T(backup_refuses_an_existing_out_path),
		T(backup_completes_while_another_process_keeps_writing),
		cmocka_unit_test(default_path_is_the_db_path_with_a_utc_stamp),
		T(restore_swaps_the_file_in_and_keeps_the_old_one),
		T(restore_keeps_the_uncheckpointed_wal_with_the_replaced_database),
		T(restore_refuses_a_garbage_file_without_touching_the_database),
		T(restore_refuses_a_corrupt_backup),
		T(restore_refuses_a_database_that_is_not_ours),
		T(restore_refuses_a_backup_with_a_pending_wal),
		T(restore_refuses_the_database_itself),
		T(restore_into_a_missing_database_saves_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
