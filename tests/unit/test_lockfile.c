/*
 * The one-server-per-database guard (src/store/lockfile.c). Other "servers"
 * are forked children; they report with their exit code, since cmocka's
 * assertions belong to the parent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/status.h"
#include "store/lockfile.h"

struct fixture {
	char dir[64];
	char db[128];
	char lock[160];
};

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

	unlink(f->lock);
	rmdir(f->dir);
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
			 "database %s is in use by another beebeebrain server (pid %d, lock file %s)", f->db,
			 (int)getppid(), f->lock);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
