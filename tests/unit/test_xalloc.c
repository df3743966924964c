/* common/xalloc: running out of memory ends the process, loudly, instead of
 * half-handling it somewhere. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

/* Runs fn in a child with stderr on a pipe; returns the wait status and
 * what the child wrote. */
static int in_child(void (*fn)(void), char *err, size_t n)
{
	int fds[2], status = 0;
	ssize_t got, total = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while (total < (ssize_t)n - 1 && (got = read(fds[0], err + total, n - 1 - (size_t)total)) > 0)
		total += got;
	err[total] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void allocate_more_than_any_machine_has(void)
{
	volatile char *p = xmalloc((size_t)1 << 46); /* 64 TiB */
	p[0] = 1;
}

static void a_failed_allocation_aborts_with_a_message(void **state)
{
	char err[4096];
	int status = in_child(allocate_more_than_any_machine_has, err, sizeof(err));

	(void)state;
	if (UNDER_ASAN) {
		/* ASan refuses the size itself and ends the process its own way. */
		assert_true(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0));
		return;
	}
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(err, "out of memory (70368744177664 bytes)"));
}

static void the_wrappers_return_what_they_promise(void **state)
{
	char *s;
	int *v;

	(void)state;
	s = xstrndup("abcdef", 3);
	assert_string_equal(s, "abc");
	free(s);
	s = xasprintf("%s-%d", "run", 42);
	assert_string_equal(s, "run-42");
	free(s);
	v = xcalloc(4, sizeof(*v));
	assert_int_equal(v[0] | v[1] | v[2] | v[3], 0);
	v = xrealloc(v, 1000 * sizeof(*v));
	v[999] = 7;
	assert_int_equal(v[999], 7);
	free(v);
	free(xmalloc(0)); /* a valid pointer, never NULL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_failed_allocation_aborts_with_a_message),
		cmocka_unit_test(the_wrappers_return_what_they_promise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
