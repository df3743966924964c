/*
 * The one-server-per-database guard (src/store/lockfile.c). Other "servers"
 * are forked children; they report with their exit code, since cmocka's
 * assertions belong to the parent. The guard locks the database file itself,
 * so the last test runs SQLite on that file, across processes, while the lock
 * is held: the two kinds of lock must not see each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/status.h"
#include "store/lockfile.h"
#include "store/store.h"
#include "unit_db.h"

struct fixture {
	char dir[64];
	char db[128];
	char lock[160];
};

static void unlink_in(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/bbb-test-lockfile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/bbb.db", f->dir);
	snprintf(f->lock, sizeof(f->lock), "%s.lock", f->db);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = {"bbb.db", "bbb.db.lock", "bbb.db-wal", "bbb.db-shm",
					    "sym.db", "sym.db.lock", "hard.db",    "hard.db.lock"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink_in(f->dir, names[i]);
	assert_int_equal(rmdir(f->dir), 0); /* nothing else was left behind */
	free(f);
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void acquire_writes_the_pid_and_sets_close_on_exec(void **state)
{
	struct fixture *f = *state;
	struct lockfile lf;
	char buf[32] = {0}, want[32];
	bbb_status st;
	FILE *fp;

	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, f->db, &st), 0);
	assert_string_equal(lf.lf_path, f->lock);
	assert_true(fcntl(lf.lf_fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(lf.lf_pid_fd, F_GETFD) & FD_CLOEXEC);
	fp = fopen(f->lock, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	snprintf(want, sizeof(want), "%d\n", (int)getpid());
	assert_string_equal(buf, want);
	lockfile_release(&lf);
}

/* Exit codes of the child below. */
enum { CHILD_REFUSED_OK = 0, CHILD_ACQUIRED = 1, CHILD_WRONG_STATUS = 2 };

static void child_in_another_process_is_refused_naming_the_holder(void **state)
{
	struct fixture *f = *state;
	struct lockfile lf;
	bbb_status st;
	pid_t pid;

	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, f->db, &st), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lockfile other;
		bbb_status cst;
		char want[512];

		status_clear(&cst);
		if (lockfile_acquire(&other, f->db, &cst) == 0)
			_exit(CHILD_ACQUIRED);
		snprintf(want, sizeof(want),
			 "database %s is in use by another beebeebrain server (pid %d, locked through this or another "
			 "name of the same file)",
			 f->db, (int)getppid());
		if (cst.code != BBB_FAILED_PRECONDITION || strcmp(cst.reason, "DB_IN_USE") != 0 ||
		    strcmp(cst.message, want) != 0)
			_exit(CHILD_WRONG_STATUS);
		_exit(CHILD_REFUSED_OK);
	}
	assert_int_equal(wait_child(pid), CHILD_REFUSED_OK);
	lockfile_release(&lf);
}

static void second_acquire_in_the_same_process_is_refused(void **state)
{
	struct fixture *f = *state;
	struct lockfile a, b;
	bbb_status st;
	char want[64];

	status_clear(&st);
	assert_int_equal(lockfile_acquire(&a, f->db, &st), 0);
	assert_int_equal(lockfile_acquire(&b, f->db, &st), -1);
	assert_string_equal(st.reason, "DB_IN_USE");
	snprintf(want, sizeof(want), "(pid %d,", (int)getpid());
	assert_non_null(strstr(st.message, want));
	assert_int_equal(b.lf_fd, -1);
	lockfile_release(&b); /* harmless on a failed acquire */
	lockfile_release(&a);
}

static void holder_reports_the_pid_while_held_and_zero_after_release(void **state)
{
	struct fixture *f = *state;
	struct lockfile lf;
	bbb_status st;

	assert_int_equal(lockfile_holder(f->db), 0);
	assert_int_equal(access(f->lock, F_OK), -1); /* probing creates nothing */

	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, f->db, &st), 0);
	assert_int_equal(lockfile_holder(f->db), getpid());
	/* the probe did not take the lock away */
	assert_int_equal(lockfile_holder(f->db), getpid());
	lockfile_release(&lf);
	assert_int_equal(lf.lf_fd, -1);
	assert_int_equal(lockfile_holder(f->db), 0);
	lockfile_release(&lf); /* idempotent */
}

static void lock_of_a_dead_holder_is_free_despite_its_pid_in_the_file(void **state)
{
	struct fixture *f = *state;
	struct lockfile lf;
	bbb_status st;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lockfile mine;
		bbb_status cst;

		/* dies holding the lock, without releasing it */
		_exit(lockfile_acquire(&mine, f->db, &cst) == 0 ? 0 : 1);
	}
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(lockfile_holder(f->db), 0);
	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, f->db, &st), 0);
	assert_int_equal(lockfile_holder(f->db), getpid());
	lockfile_release(&lf);
}

static void unreachable_lock_file_is_an_internal_error(void **state)
{
	struct lockfile lf;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, "/nonexistent-dir-bbb/x.db", &st), -1);
	assert_int_equal(st.code, BBB_INTERNAL);
	assert_int_equal(lf.lf_fd, -1);
}

/* Exit codes of the alias child below: 0, or the number of the check that
 * failed. */
static int child_try_alias(const char *alias, int holder)
{
	struct lockfile lf;
	bbb_status st;
	char want[32];

	status_clear(&st);
	if (lockfile_acquire(&lf, alias, &st) == 0)
		return 1;
	snprintf(want, sizeof(want), "(pid %d,", holder);
	if (strcmp(st.reason, "DB_IN_USE") != 0 || st.code != BBB_FAILED_PRECONDITION)
		return 2;
	if (strstr(st.message, want) == NULL || strstr(st.message, alias) == NULL)
		return 3;
	if (lockfile_holder(alias) != holder)
		return 4;
	return 0;
}

static void every_name_of_the_database_file_is_refused_naming_the_holder(void **state)
{
	struct fixture *f = *state;
	char sym[160], hard[160], dotted[160];
	struct lockfile lf;
	bbb_status st;
	pid_t pid;

	snprintf(sym, sizeof(sym), "%s/sym.db", f->dir);
	snprintf(hard, sizeof(hard), "%s/hard.db", f->dir);
	snprintf(dotted, sizeof(dotted), "%s/./bbb.db", f->dir);
	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, f->db, &st), 0);
	assert_int_equal(symlink(f->db, sym), 0);
	assert_int_equal(link(f->db, hard), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = child_try_alias(sym, getppid());

		if (rc == 0)
			rc = child_try_alias(hard, getppid());
		if (rc == 0)
			rc = child_try_alias(dotted, getppid());
		_exit(rc);
	}
	assert_int_equal(wait_child(pid), 0);
	/* The same process, through a link, is refused too. */
	struct lockfile again;
	assert_int_equal(lockfile_acquire(&again, hard, &st), -1);
	assert_string_equal(st.reason, "DB_IN_USE");
	lockfile_release(&lf);
	assert_int_equal(lockfile_holder(sym), 0);
	assert_int_equal(lockfile_holder(hard), 0);
	assert_int_equal(lockfile_acquire(&again, hard, &st), 0);
	assert_int_equal(lockfile_holder(f->db), getpid());
	lockfile_release(&again);
}

static void read_only_directory_is_db_read_only(void **state)
{
	struct fixture *f = *state;
	struct lockfile lf;
	bbb_status st;
	char db[160];

	/* Root writes anywhere; /proc is a directory nobody may create in. */
	(void)f;
	snprintf(db, sizeof(db), "/sys/bbb-test.db");
	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, db, &st), -1);
	assert_string_equal(st.reason, "DB_READ_ONLY");
	assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
	assert_int_equal(lf.lf_fd, -1);
	assert_int_equal(lf.lf_pid_fd, -1);
}

static int sql_count(struct db *db)
{
	struct db_stmt *stmt;
	int n = -1;

	if (unit_prepare(db, "SELECT count(*) FROM t", &stmt) != SQLITE_OK)
		return -1;
	if (db_step(stmt) == DB_ROW)
		n = db_col_int(stmt, 0);
	store_release(stmt);
	return n;
}

/* Exit codes of the SQLite child below. */
enum {
	SQL_CHILD_OK = 0,
	SQL_CHILD_OPEN = 10,
	SQL_CHILD_READ,
	SQL_CHILD_NOT_BUSY,
	SQL_CHILD_FLOCK_FREE,
	SQL_CHILD_WRITE,
	SQL_CHILD_PIPE,
};

/* Another process using the database with SQLite while the parent holds the
 * flock and a write transaction: it reads what is committed, finds the
 * parent's write lock (SQLITE_BUSY), and writes once the parent committed.
 * `in` brings the parent's steps, `out` reports the child's. */
static int sql_child(const char *path, int in, int out)
{
	struct db *r, *w;
	bbb_status st;
	char c;
	int fd;

	if (read(in, &c, 1) != 1) /* the parent's transaction is open */
		return SQL_CHILD_PIPE;
	if (store_conn_open(path, 1, 1, 100, &r, &st) != 0 || store_conn_open(path, 0, 1, 100, &w, &st) != 0)
		return SQL_CHILD_OPEN;
	/* A WAL reader sees what is committed, not the parent's open write. */
	if (sql_count(r) != 1)
		return SQL_CHILD_READ;
	/* SQLite's own write lock still works across processes. */
	if (db_exec(w, "BEGIN IMMEDIATE") != SQLITE_BUSY)
		return SQL_CHILD_NOT_BUSY;
	/* And the flock is still there for anyone who asks. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0)
		return SQL_CHILD_FLOCK_FREE;
	close(fd);
	if (write(out, "b", 1) != 1 || read(in, &c, 1) != 1) /* the parent committed */
		return SQL_CHILD_PIPE;
	if (db_exec(w, "BEGIN IMMEDIATE; INSERT INTO t VALUES (3); COMMIT") != SQLITE_OK)
		return SQL_CHILD_WRITE;
	if (sql_count(r) != 3)
		return SQL_CHILD_READ;
	store_conn_close(r);
	store_conn_close(w);
	return SQL_CHILD_OK;
}

static void flock_on_the_database_leaves_sqlite_locking_alone(void **state)
{
	struct fixture *f = *state;
	struct lockfile lf;
	int to_child[2], from_child[2];
	char wal[200], c;
	int told;
	struct db *db;
	bbb_status st;
	pid_t pid;

	/* The order the server keeps: lock first, SQLite after. The child is
	 * forked before this process opens SQLite: a connection must not cross
	 * a fork (the child would inherit SQLite's picture of our locks). */
	status_clear(&st);
	assert_int_equal(lockfile_acquire(&lf, f->db, &st), 0);
	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(to_child[1]);
		close(from_child[0]);
		_exit(sql_child(f->db, to_child[0], from_child[1]));
	}
	close(to_child[0]);
	close(from_child[1]);
	assert_int_equal(store_conn_open(f->db, 0, 1, 100, &db, &st), 0);
	assert_int_equal(db_exec(db, "CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (1)"), SQLITE_OK);
	assert_int_equal(db_exec(db, "BEGIN IMMEDIATE; INSERT INTO t VALUES (2)"), SQLITE_OK);
	/* A child that failed early has closed its end, so these may fail: then
	 * its exit code says how. */
	signal(SIGPIPE, SIG_IGN);
	if (write(to_child[1], "o", 1) == 1 && read(from_child[0], &c, 1) == 1) /* it saw our write lock */
		assert_int_equal(db_exec(db, "COMMIT"), SQLITE_OK);
	told = write(to_child[1], "c", 1) == 1;
	close(to_child[1]);
	close(from_child[0]);
	assert_int_equal(wait_child(pid), SQL_CHILD_OK);
	assert_true(told);
	assert_int_equal(sql_count(db), 3);
	/* The last connection's close takes SQLite's exclusive lock on the
	 * file to checkpoint and delete the WAL: the flock does not stop it. */
	store_conn_close(db);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(access(wal, F_OK), -1);
	assert_int_equal(lockfile_holder(f->db), getpid());
	lockfile_release(&lf);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(acquire_writes_the_pid_and_sets_close_on_exec),
		T(child_in_another_process_is_refused_naming_the_holder),
		T(second_acquire_in_the_same_process_is_refused),
		T(holder_reports_the_pid_while_held_and_zero_after_release),
		T(lock_of_a_dead_holder_is_free_despite_its_pid_in_the_file),
		T(unreachable_lock_file_is_an_internal_error),
		T(every_name_of_the_database_file_is_refused_naming_the_holder),
		T(read_only_directory_is_db_read_only),
		T(flock_on_the_database_leaves_sqlite_locking_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
