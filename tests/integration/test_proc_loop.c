/*
 * The process loop (runtime/proc_loop.h) with real child processes: /bin/sh
 * scripts and the fake Claude Code CLI (tests/fake_claude/fake_claude.py).
 * Covered: lines in order (also a last one without newline, "\r\n" endings),
 * the exit status and the end of stderr; the working directory, the exact
 * environment, stdin from /dev/null, no inherited descriptor, an empty signal
 * mask and default dispositions; a timeout, a cancel and stop kill the whole
 * process group (a background grandchild too); a process that ignores
 * SIGTERM gets SIGKILL after the grace period; a line without newline past
 * the limit ends the process without holding more than the limit; a line
 * callback can end the process; a missing executable, a directory, a file
 * without the x bit, a relative search-path entry and a missing working
 * directory; fifty processes at once; and after every test, no child of this
 * process is left, zombie or not.
 *
 * Waiting has a generous guard (a hang fails instead of stalling ctest); no
 * assertion depends on how fast the machine is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/status.h"
#include "common/xalloc.h"
#include "runtime/proc_loop.h"

#define GUARD_MS 60000
#define MANY 50
#define MAX_LINES 16

static struct proc_loop *loop;
static char fake_claude[PATH_MAX];
static char tmpdir[] = "/tmp/bbb-proc-XXXXXX";

/* What one process's callbacks saw, copied out of the loop's buffers. */
struct seen {
	int s_done; /* `done` calls: must end at 1 */
	int s_lines_after_done;
	char *s_lines[MAX_LINES];
	size_t s_n_lines;
	size_t s_longest;
	int s_refuse_at; /* the line callback returns -1 on this line (1-based); 0: never */
	enum proc_outcome s_outcome;
	int s_pid, s_exit_code, s_term_signal;
	char s_stderr[8192];
	char s_error[512];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static int on_line(const char *line, size_t len, void *arg)
{
	struct seen *s = arg;
	int rc = 0;

	pthread_mutex_lock(&mu);
	if (s->s_done)
		s->s_lines_after_done++;
	if (len > s->s_longest)
		s->s_longest = len;
	if (s->s_n_lines < MAX_LINES)
		s->s_lines[s->s_n_lines] = xstrndup(line, len); /* line is not NUL-terminated */
	s->s_n_lines++;
	if (s->s_refuse_at > 0 && (int)s->s_n_lines == s->s_refuse_at)
		rc = -1;
	pthread_mutex_unlock(&mu);
	return rc;
}

static void on_done(const struct proc_result *r, void *arg)
{
	struct seen *s = arg;

	pthread_mutex_lock(&mu);
	s->s_done++;
	s->s_outcome = r->outcome;
	s->s_pid = r->pid;
	s->s_exit_code = r->exit_code;
	s->s_term_signal = r->term_signal;
	snprintf(s->s_stderr, sizeof(s->s_stderr), "%s", r->stderr_tail);
	snprintf(s->s_error, sizeof(s->s_error), "%s", r->error);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->s_n_lines && i < MAX_LINES; i++)
		free(s->s_lines[i]);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_all(struct seen *s, size_t n)
{
	int64_t give_up = now_ms() + GUARD_MS;
	size_t done;

	pthread_mutex_lock(&mu);
	for (;;) {
		struct timespec ts;

		for (done = 0; done < n && s[done].s_done > 0;)
			done++;
		if (done == n || now_ms() > give_up)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &ts);
	}
	pthread_mutex_unlock(&mu);
	return done == n ? 0 : -1;
}

static const char *const no_env[] = {NULL};
static const char *const path_env[] = {"PATH=/usr/bin:/bin", NULL};

/* Runs `sh -c script` and waits for its end. */
static uint64_t run_sh(struct seen *s, const char *script, long timeout_ms, const char *cwd)
{
	const char *argv[] = {"sh", "-c", script, NULL};
	struct proc_request req = {
		.program = "sh",
		.argv = argv,
		.envp = path_env,
		.cwd = cwd != NULL ? cwd : tmpdir,
		.search_path = "/usr/bin:/bin",
		.timeout_ms = timeout_ms,
		.kill_grace_ms = 300,
	};
	bbb_status st;
	uint64_t id;

	status_clear(&st);
	id = proc_loop_submit(loop, &req, on_line, on_done, s, &st);
	assert_true(id > 0);
	return id;
}

/* 1 when the process is gone: no such pid, or a zombie (an orphan whose
 * reaper has not come yet is dead all the same). */
static int process_gone(int pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return 1;
	return p[2] == 'Z' || p[2] == 'X';
}

static int wait_gone(int pid)
{
	for (int64_t give_up = now_ms() + 10000; now_ms() < give_up; usleep(20000))
		if (process_gone(pid))
			return 1;
	return process_gone(pid);
}

/* Every test ends with no child of ours left, zombie or not. */
static int no_children_left(void **state)
{
	int status;

	(void)state;
	errno = 0;
	assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	return 0;
}

/* ---- output and exit ----------------------------------------------------------- */

static void lines_exit_status_and_stderr_come_back(void **state)
{
	struct seen s = {0};

	(void)state;
	run_sh(&s, "printf 'first\\nsecond\\r\\n\\nlast without newline'; echo 'oops' >&2; exit 7", 0, NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_done, 1);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_EXITED);
	assert_int_equal(s.s_exit_code, 7);
	assert_int_equal(s.s_term_signal, 0);
	assert_true(s.s_pid > 0);
	assert_int_equal(s.s_n_lines, 4);
	assert_string_equal(s.s_lines[0], "first");
	assert_string_equal(s.s_lines[1], "second");
	assert_string_equal(s.s_lines[2], "");
	assert_string_equal(s.s_lines[3], "last without newline");
	assert_string_equal(s.s_stderr, "oops\n");
	assert_string_equal(s.s_error, "");
	assert_int_equal(s.s_lines_after_done, 0);
	seen_free(&s);
}

static void only_the_end_of_stderr_is_kept(void **state)
{
	struct seen s = {0};

	(void)state;
	run_sh(&s, "i=0; while [ $i -lt 2000 ]; do echo \"line $i of noise\" >&2; i=$((i+1)); done; echo END >&2", 0,
	       NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_exit_code, 0);
	assert_true(strlen(s.s_stderr) <= PROC_DEFAULT_MAX_STDERR);
	assert_non_null(strstr(s.s_stderr, "line 1999 of noise\nEND\n"));
	assert_null(strstr(s.s_stderr, "line 0 of noise"));
	seen_free(&s);
}

/* ---- what the process gets ---------------------------------------------------- */

static void the_directory_and_environment_are_exactly_the_ones_given(void **state)
{
	const char *argv[] = {"sh", "-c", "pwd; env | grep -v '^PWD=' | sort", NULL};
	const char *env[] = {"PATH=/usr/bin:/bin", "ONLY_THIS=1", NULL};
	struct proc_request req = {.program = "/bin/sh", .argv = argv, .envp = env, .cwd = tmpdir};
	struct seen s = {0};
	bbb_status st;

	(void)state;
	setenv("BEEBEEBRAIN_API_KEY", "never-passed-on", 1);
	assert_true(proc_loop_submit(loop, &req, on_line, on_done, &s, &st) > 0);
	assert_int_equal(wait_all(&s, 1), 0);
	unsetenv("BEEBEEBRAIN_API_KEY");
	assert_int_equal(s.s_n_lines, 3);
	assert_string_equal(s.s_lines[0], tmpdir);
	assert_string_equal(s.s_lines[1], "ONLY_THIS=1");
	assert_string_equal(s.s_lines[2], "PATH=/usr/bin:/bin");
	seen_free(&s);
}

static void stdin_is_dev_null_no_descriptor_leaks_and_signals_are_reset(void **state)
{
	char script[1024];
	struct seen s = {0};
	int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: a careless fd of the server */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old, old_term;

	(void)state;
	assert_true(leak > 2);
	sigaction(SIGPIPE, &ign, &old); /* the server ignores SIGPIPE: a new program must not */
	sigaction(SIGTERM, &ign, &old_term);
	snprintf(script, sizeof(script),
		 "readlink /proc/$$/fd/0; "
		 "if [ -e /proc/$$/fd/%d ]; then echo leaked; else echo closed; fi; "
		 /* exec: the shell's own mask, not the one dash holds while it forks */
		 "exec grep -E '^(SigBlk|SigIgn):' /proc/self/status",
		 leak);
	run_sh(&s, script, 0, NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	sigaction(SIGPIPE, &old, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	close(leak);
	assert_int_equal(s.s_exit_code, 0);
	assert_int_equal(s.s_n_lines, 4);
	assert_string_equal(s.s_lines[0], "/dev/null");
	assert_string_equal(s.s_lines[1], "closed");
	assert_string_equal(s.s_lines[2], "SigBlk:\t0000000000000000");
	/* Ignored here, at its default there (the environment of the test may
	 * ignore signals of its own, which nobody can reset: glibc's 32 and 33). */
	assert_int_equal(strncmp(s.s_lines[3], "SigIgn:\t", 8), 0);
	unsigned long long ignored = strtoull(s.s_lines[3] + 8, NULL, 16);
	assert_int_equal(ignored & (1ULL << (SIGPIPE - 1)), 0);
	assert_int_equal(ignored & (1ULL << (SIGTERM - 1)), 0);
	seen_free(&s);
}

static void the_fake_cli_records_its_directory_and_process_group(void **state)
{
	char record[PATH_MAX + 32], rec_env[PATH_MAX + 64], buf[65536];
	const char *argv[] = {"claude", "-p", "--output-format", "stream-json", "--verbose", "--", "hello", NULL};
	const char *env[] = {"PATH=/usr/bin:/bin", rec_env, NULL};
	struct proc_request req = {.program = fake_claude, .argv = argv, .envp = env, .cwd = tmpdir};
	struct seen s = {0};
	bbb_status st;
	FILE *f;
	size_t n;

	(void)state;
	snprintf(record, sizeof(record), "%s/calls.jsonl", tmpdir);
	snprintf(rec_env, sizeof(rec_env), "FAKE_CLAUDE_RECORD=%s", record);
	unlink(record);
	assert_true(proc_loop_submit(loop, &req, on_line, on_done, &s, &st) > 0);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_EXITED);
	assert_int_equal(s.s_exit_code, 0);
	assert_int_equal(s.s_n_lines, 3); /* init, assistant, result */
	assert_non_null(strstr(s.s_lines[2], "\"type\": \"result\""));
	f = fopen(record, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "\"cwd\": \"%s\"", tmpdir);
	assert_non_null(strstr(buf, want));
	snprintf(want, sizeof(want), "\"pid\": %d, \"pgid\": %d,", s.s_pid, s.s_pid); /* a group of its own */
	assert_non_null(strstr(buf, want));
	assert_non_null(strstr(buf, "\"stdin\": \"/dev/null\""));
	seen_free(&s);
}

/* ---- ending it ------------------------------------------------------------------ */

static void a_timeout_kills_the_process_group(void **state)
{
	struct seen s = {0};

	(void)state;
	run_sh(&s, "sleep 60 & echo $!; wait", 300, NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_TIMEOUT);
	assert_int_equal(s.s_term_signal, SIGTERM);
	assert_non_null(strstr(s.s_error, "timed out after 300 ms"));
	assert_int_equal(s.s_n_lines, 1);
	assert_true(wait_gone(atoi(s.s_lines[0]))); /* the background sleep too */
	seen_free(&s);
}

static void a_cancel_kills_the_process_group(void **state)
{
	struct seen s = {0};
	uint64_t id;

	(void)state;
	id = run_sh(&s, "sleep 60 & echo $!; wait", 60000, NULL);
	for (int64_t give_up = now_ms() + GUARD_MS; now_ms() < give_up; usleep(10000)) {
		pthread_mutex_lock(&mu);
		size_t lines = s.s_n_lines;
		pthread_mutex_unlock(&mu);
		if (lines > 0)
			break;
	}
	proc_loop_cancel(loop, id);
	proc_loop_cancel(loop, id); /* twice: still one callback */
	assert_int_equal(wait_all(&s, 1), 0);
	usleep(50000);
	assert_int_equal(s.s_done, 1);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_CANCELLED);
	assert_true(wait_gone(atoi(s.s_lines[0])));
	proc_loop_cancel(loop, id); /* after the end: ignored */
	seen_free(&s);
}

static void a_process_that_ignores_sigterm_gets_sigkill(void **state)
{
	struct seen s = {0};

	(void)state;
	run_sh(&s, "trap '' TERM; echo ready; sleep 60", 200, NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_TIMEOUT);
	assert_int_equal(s.s_term_signal, SIGKILL);
	seen_free(&s);
}

static void a_line_without_newline_past_the_limit_ends_the_process(void **state)
{
	/* 64 MiB of one line: the limit is 1 MiB, so the loop ends it long
	 * before, and never holds more than the limit. */
	const char *argv[] = {"sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' x; sleep 60", NULL};
	struct proc_request req = {
		.program = "sh",
		.argv = argv,
		.envp = path_env,
		.cwd = tmpdir,
		.search_path = "/usr/bin:/bin",
		.max_line_bytes = 1 << 20,
		.kill_grace_ms = 300,
	};
	struct seen s = {0};
	bbb_status st;

	(void)state;
	assert_true(proc_loop_submit(loop, &req, on_line, on_done, &s, &st) > 0);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_LINE_TOO_LONG);
	assert_int_equal(s.s_n_lines, 0);
	assert_non_null(strstr(s.s_error, "longer than 1048576 bytes"));
	seen_free(&s);
}

static void a_line_at_the_limit_is_delivered(void **state)
{
	const char *argv[] = {"sh", "-c", "head -c 1000 /dev/zero | tr '\\0' y; echo", NULL};
	struct proc_request req = {.program = "sh",
				   .argv = argv,
				   .envp = path_env,
				   .cwd = tmpdir,
				   .search_path = "/usr/bin:/bin",
				   .max_line_bytes = 1000};
	struct seen s = {0};
	bbb_status st;

	(void)state;
	assert_true(proc_loop_submit(loop, &req, on_line, on_done, &s, &st) > 0);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_EXITED);
	assert_int_equal(s.s_n_lines, 1);
	assert_int_equal(s.s_longest, 1000);
	seen_free(&s);
}

static void a_refused_line_ends_the_process_and_no_line_follows(void **state)
{
	struct seen s = {.s_refuse_at = 2};

	(void)state;
	run_sh(&s, "echo one; echo two; echo three; sleep 60", 0, NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_ABORTED);
	assert_int_equal(s.s_n_lines, 2);
	seen_free(&s);
}

static void a_descendant_that_left_the_group_cannot_hold_the_loop(void **state)
{
	char script[PATH_MAX + 128], pidfile[PATH_MAX + 16];
	struct seen s = {0};
	FILE *f;
	int pid = 0;

	(void)state;
	/* `yes` in a session of its own keeps the stdout pipe open and full
	 * after the process itself exited: the loop reads what it must, then
	 * lets go (yes then dies of SIGPIPE). */
	snprintf(pidfile, sizeof(pidfile), "%s/escaped.pid", tmpdir);
	snprintf(script, sizeof(script), "setsid sh -c 'echo $$ > %s; exec yes spam' & sleep 0.3; exit 0", pidfile);
	run_sh(&s, script, 0, NULL);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, PROC_OUTCOME_EXITED);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pid), 1);
	fclose(f);
	if (!wait_gone(pid))
		kill(pid, SIGKILL);
	assert_true(wait_gone(pid));
	unlink(pidfile);
	seen_free(&s);
}

static void stop_kills_and_reports_every_process_left(void **state)
{
	struct seen s[3] = {{0}};
	bbb_status st;

	(void)state;
	for (int i = 0; i < 3; i++)
		run_sh(&s[i], "sleep 60 & echo $!; wait", 60000, NULL);
	for (int64_t give_up = now_ms() + GUARD_MS; now_ms() < give_up; usleep(10000)) {
		pthread_mutex_lock(&mu);
		int ready = s[0].s_n_lines > 0 && s[1].s_n_lines > 0 && s[2].s_n_lines > 0;
		pthread_mutex_unlock(&mu);
		if (ready)
			break;
	}
	assert_int_equal(proc_loop_pending(loop), 3);
	assert_int_equal(proc_loop_stop(loop), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(s[i].s_done, 1);
		assert_int_equal(s[i].s_outcome, PROC_OUTCOME_CANCELLED);
		assert_true(wait_gone(atoi(s[i].s_lines[0])));
		seen_free(&s[i]);
	}
	status_clear(&st);
	assert_int_equal(proc_loop_start(&loop, &st), 0);
}

/* ---- what cannot start ----------------------------------------------------------- */

static void submit_expect(const char *program, const char *search_path, const char *cwd, enum proc_outcome want,
			  const char *error_part)
{
	const char *argv[] = {"x", NULL};
	struct proc_request req = {
		.program = program, .argv = argv, .envp = no_env, .cwd = cwd, .search_path = search_path};
	struct seen s = {0};
	bbb_status st;

	assert_true(proc_loop_submit(loop, &req, on_line, on_done, &s, &st) > 0);
	assert_int_equal(wait_all(&s, 1), 0);
	assert_int_equal(s.s_outcome, want);
	assert_int_equal(s.s_pid, 0);
	assert_int_equal(s.s_exit_code, -1);
	if (strstr(s.s_error, error_part) == NULL)
		fail_msg("error '%s' does not say '%s'", s.s_error, error_part);
	seen_free(&s);
}

static void what_cannot_be_run_is_not_found(void **state)
{
	char noexec[PATH_MAX + 16], bindir[PATH_MAX + 16], relprog[PATH_MAX + 32];
	FILE *f;

	(void)state;
	snprintf(noexec, sizeof(noexec), "%s/noexec", tmpdir);
	f = fopen(noexec, "w");
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	chmod(noexec, 0644);
	submit_expect("no-such-program-bbb", "/usr/bin:/bin", tmpdir, PROC_OUTCOME_NOT_FOUND, "is not found");
	submit_expect("/nonexistent/claude", NULL, tmpdir, PROC_OUTCOME_NOT_FOUND, "No such file");
	submit_expect("/tmp", NULL, tmpdir, PROC_OUTCOME_NOT_FOUND, "Permission denied");
	submit_expect(noexec, NULL, tmpdir, PROC_OUTCOME_NOT_FOUND, "Permission denied");
	/* A relative search-path entry would name a file of the working directory. */
	snprintf(bindir, sizeof(bindir), "%s/bin", tmpdir);
	mkdir(bindir, 0755);
	snprintf(relprog, sizeof(relprog), "%s/bin/relprog", tmpdir);
	f = fopen(relprog, "w");
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	chmod(relprog, 0755);
	submit_expect("relprog", "bin::.", tmpdir, PROC_OUTCOME_NOT_FOUND, "is not found");
	unlink(relprog);
	rmdir(bindir);
	unlink(noexec);
}

static void a_missing_working_directory_fails_the_start(void **state)
{
	(void)state;
	submit_expect("sh", "/usr/bin:/bin", "/nonexistent/root", PROC_OUTCOME_SPAWN_FAILED,
		      "working directory /nonexistent/root");
}

static void bad_submissions_are_refused_without_a_callback(void **state)
{
	const char *argv[] = {"sh", NULL};
	struct proc_request req = {.program = "sh", .argv = argv, .cwd = tmpdir};
	bbb_status st;

	(void)state;
	assert_int_equal(proc_loop_submit(loop, &req, NULL, NULL, NULL, &st), 0);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	req.cwd = NULL;
	assert_int_equal(proc_loop_submit(loop, &req, on_line, on_done, NULL, &st), 0);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
}

static void fifty_processes_at_once_all_end(void **state)
{
	struct seen *s = calloc(MANY, sizeof(*s));
	char script[64];

	(void)state;
	for (int i = 0; i < MANY; i++) {
		snprintf(script, sizeof(script), "echo %d; exit %d", i, i % 5);
		run_sh(&s[i], script, 0, NULL);
	}
	assert_int_equal(wait_all(s, MANY), 0);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(s[i].s_done, 1);
		assert_int_equal(s[i].s_exit_code, i % 5);
		assert_int_equal(atoi(s[i].s_lines[0]), i);
		seen_free(&s[i]);
	}
	free(s);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	bbb_status st;
	int rc;

	(void)argc;
	(void)argv;
	snprintf(self, sizeof(self), "%s", __FILE__);
	snprintf(fake_claude, sizeof(fake_claude), "%s/../fake_claude/fake_claude.py", dirname(self));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	status_clear(&st);
	if (proc_loop_start(&loop, &st) != 0) {
		fprintf(stderr, "proc_loop_start: %s\n", st.message);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(lines_exit_status_and_stderr_come_back, no_children_left),
		cmocka_unit_test_teardown(only_the_end_of_stderr_is_kept, no_children_left),
		cmocka_unit_test_teardown(the_directory_and_environment_are_exactly_the_ones_given, no_children_left),
		cmocka_unit_test_teardown(stdin_is_dev_null_no_descriptor_leaks_and_signals_are_reset,
					  no_children_left),
		cmocka_unit_test_teardown(the_fake_cli_records_its_directory_and_process_group, no_children_left),
		cmocka_unit_test_teardown(a_timeout_kills_the_process_group, no_children_left),
		cmocka_unit_test_teardown(a_cancel_kills_the_process_group, no_children_left),
		cmocka_unit_test_teardown(a_process_that_ignores_sigterm_gets_sigkill, no_children_left),
		cmocka_unit_test_teardown(a_line_without_newline_past_the_limit_ends_the_process, no_children_left),
		cmocka_unit_test_teardown(a_line_at_the_limit_is_delivered, no_children_left),
		cmocka_unit_test_teardown(a_refused_line_ends_the_process_and_no_line_follows, no_children_left),
		cmocka_unit_test_teardown(a_descendant_that_left_the_group_cannot_hold_the_loop, no_children_left),
		cmocka_unit_test_teardown(stop_kills_and_reports_every_process_left, no_children_left),
		cmocka_unit_test_teardown(what_cannot_be_run_is_not_found, no_children_left),
		cmocka_unit_test_teardown(a_missing_working_directory_fails_the_start, no_children_left),
		cmocka_unit_test_teardown(bad_submissions_are_refused_without_a_callback, no_children_left),
		cmocka_unit_test_teardown(fifty_processes_at_once_all_end, no_children_left),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	proc_loop_stop(loop);
	rmdir(tmpdir);
	return rc;
}
