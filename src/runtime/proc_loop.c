/*
 * One thread, poll(2), every child process of the runtime (contract and
 * threading rules in proc_loop.h).
 *
 * Cross-thread traffic is two queues under pl_mu, processes submitted and ids
 * to cancel, and a self-pipe that wakes the loop; the loop thread takes both
 * queues at the top of each turn, so the processes, their pipes and the list
 * of active ones are touched by the loop thread alone.
 *
 * A turn:  take queues -> start new processes -> apply cancels -> poll (the
 *          wake pipe, each process's stdout and stderr, and its pidfd, which
 *          becomes readable when it exits) -> read what is ready -> look for
 *          exits (waitid WNOHANG, by pid) -> timeouts and due SIGKILLs ->
 *          finish what was reaped.
 * Start:   fork and exec (not posix_spawn: the child sets a parent-death
 *          signal, so that a server killed with -9 leaves no CLI running);
 *          the loop waits on a close-on-exec pipe until the exec happened or
 *          failed, so a missing program is known before the process counts.
 * Exit:    seen with WNOWAIT first, so that the zombie still holds its pid
 *          (and with it the process group id) while the rest of the group is
 *          killed; then reaped, the pipes drained, `done` called.
 * Stop:    every process is killed and the loop goes on until each one is
 *          reaped; only then does the thread end.
 * Without pidfd (kernels before 5.3) the poll wakes every 50 ms while a
 * process runs, to look for its exit.
 */
#include "runtime/proc_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/status.h"
#include "common/xalloc.h"

#define PROC_POLL_MAX_MS 1000
#define PROC_POLL_NO_PIDFD_MS 50
#define PROC_READ_CHUNK 65536
#define PROC_READS_PER_TURN 16 /* per pipe: one chatty process cannot starve the others */
/* After the reap: what the process left in a pipe (at most its capacity, 1 MiB
 * unless raised); the bound stops a descendant that left the group and keeps
 * writing from holding the loop. */
#define PROC_DRAIN_READS 32

struct proc_call {
	uint64_t pc_id;
	/* the request, copied */
	char *pc_program, *pc_cwd, *pc_search_path;
	char **pc_argv, **pc_envp;
	int64_t pc_timeout_ms, pc_grace_ms;
	size_t pc_max_line, pc_max_stderr;
	proc_line_fn pc_on_line;
	proc_done_fn pc_done;
	void *pc_arg;
	/* the process */
	pid_t pc_pid; /* 0: not started */
	int pc_pidfd, pc_out, pc_err; /* -1 when closed */
	int64_t pc_started, pc_deadline, pc_kill_at; /* monotonic ms; pc_kill_at 0: no SIGKILL due */
	int64_t pc_ended;
	int pc_killing; /* a reason to end it was taken: pc_outcome */
	enum proc_outcome pc_outcome;
	int pc_reaped, pc_wstatus, pc_status_lost;
	char *pc_line; /* a stdout line not yet complete */
	size_t pc_line_len, pc_line_cap;
	char *pc_errbuf; /* the last pc_max_stderr bytes of stderr, + 1 for the NUL */
	size_t pc_err_len;
	char pc_error[512];
	struct proc_call *pc_next; /* submit queue, then the active list */
	struct proc_call *pc_prev; /* active list only */
};

struct proc_loop {
	pthread_t pl_thread;
	pthread_mutex_t pl_mu;
	int pl_wake[2]; /* self-pipe: any thread writes, the loop reads */
	/* under pl_mu */
	struct proc_call *pl_queue_head, *pl_queue_tail;
	uint64_t *pl_cancels;
	size_t pl_n_cancels, pl_cap_cancels;
	int pl_stopping;
	uint64_t pl_next_id;
	/* loop thread only */
	struct proc_call *pl_active;
	struct pollfd *pl_fds;
	struct proc_call **pl_fd_calls;
	size_t pl_fd_cap;
	char *pl_buf; /* PROC_READ_CHUNK */
	/* any thread */
	atomic_size_t pl_pending;
};

const char *proc_outcome_name(enum proc_outcome o)
{
	switch (o) {
	case PROC_OUTCOME_EXITED:
		return "exited";
	case PROC_OUTCOME_TIMEOUT:
		return "timeout";
	case PROC_OUTCOME_CANCELLED:
		return "cancelled";
	case PROC_OUTCOME_ABORTED:
		return "aborted";
	case PROC_OUTCOME_LINE_TOO_LONG:
		return "line_too_long";
	case PROC_OUTCOME_NOT_FOUND:
		return "not_found";
	case PROC_OUTCOME_SPAWN_FAILED:
		return "spawn_failed";
	}
	return "unknown";
}

/* ---- one process: the request ----------------------------------------------- */

static char **proc_strv_copy(const char *const *v)
{
	size_t n = 0;
	char **out;

	while (v != NULL && v[n] != NULL)
		n++;
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void proc_strv_free(char **v)
{
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void proc_call_free(struct proc_call *c)
{
	free(c->pc_program);
	free(c->pc_cwd);
	free(c->pc_search_path);
	proc_strv_free(c->pc_argv);
	proc_strv_free(c->pc_envp);
	free(c->pc_line);
	free(c->pc_errbuf);
	free(c);
}

static struct proc_call *proc_call_new(const struct proc_request *req)
{
	struct proc_call *c = xcalloc(1, sizeof(*c));

	c->pc_program = xstrdup(req->program);
	c->pc_cwd = xstrdup(req->cwd);
	c->pc_search_path = req->search_path != NULL ? xstrdup(req->search_path) : NULL;
	c->pc_argv = proc_strv_copy(req->argv);
	c->pc_envp = proc_strv_copy(req->envp);
	c->pc_timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : PROC_DEFAULT_TIMEOUT_MS;
	c->pc_grace_ms = req->kill_grace_ms > 0 ? req->kill_grace_ms : PROC_DEFAULT_KILL_GRACE_MS;
	c->pc_max_line = req->max_line_bytes > 0 ? req->max_line_bytes : PROC_DEFAULT_MAX_LINE;
	c->pc_max_stderr = req->max_stderr_bytes > 0 ? req->max_stderr_bytes : PROC_DEFAULT_MAX_STDERR;
	c->pc_errbuf = xmalloc(c->pc_max_stderr + 1);
	c->pc_pidfd = c->pc_out = c->pc_err = -1;
	return c;
}

__attribute__((format(printf, 2, 3))) static void proc_set_error(struct proc_call *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->pc_error, sizeof(c->pc_error), fmt, ap);
	va_end(ap);
}

/* ---- one process: starting it ------------------------------------------------ */

/* A regular file we may execute. */
static int proc_runnable(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return 0;
	if (!S_ISREG(sb.st_mode)) {
		errno = EACCES;
		return 0;
	}
	return access(path, X_OK) == 0;
}

/* The executable's absolute path (malloc'd), or NULL with pc_error set. A
 * path is made absolute here because the process starts in another
 * directory; relative and empty search-path entries are skipped (they would
 * name the project's files). */
static char *proc_resolve(struct proc_call *c)
{
	const char *p = c->pc_search_path;

	if (strchr(c->pc_program, '/') != NULL) {
		char *abs = realpath(c->pc_program, NULL); /* malloc'd by libc, freed with free() */
		if (abs != NULL && proc_runnable(abs))
			return abs;
		proc_set_error(c, "%s: %s", c->pc_program, strerror(errno));
		free(abs);
		return NULL;
	}
	while (p != NULL && *p != '\0') {
		const char *end = strchr(p, ':');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (len > 0 && p[0] == '/') {
			char *cand = xasprintf("%.*s/%s", (int)len, p, c->pc_program);
			if (proc_runnable(cand))
				return cand;
			free(cand);
		}
		p = end != NULL ? end + 1 : NULL;
	}
	proc_set_error(c, "'%s' is not found in the search path (%s)", c->pc_program,
		       c->pc_search_path != NULL ? c->pc_search_path : "none");
	return NULL;
}

/* The signals a server may ignore or handle that a new program should find at
 * their defaults (ignored ones are inherited through exec). */
static void proc_default_signals(sigset_t *s)
{
	static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};

	sigemptyset(s);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(s, sigs[i]);
}

static int proc_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
#else
	(void)pid;
	return -1;
#endif
}

static void proc_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Closes every descriptor from 3 on but `keep`. Async-signal-safe. */
static void proc_child_close_from_3(int keep)
{
	long max = sysconf(_SC_OPEN_MAX);

	if (keep > 3 && close_range(3, (unsigned)keep - 1, 0) == 0 && close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	if (keep == 3 && close_range(4, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: one by one (sysconf is safe here, as glibc reads
	 * a resource limit). */
	for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		if (fd != keep)
			close(fd);
}

/* In the child, between fork and exec: only async-signal-safe calls. On any
 * failure errno goes back through `report` (close-on-exec, so a successful
 * exec just closes it). */
__attribute__((noreturn)) static void proc_child(const struct proc_call *c, const char *path, int out, int err,
						 int report, pid_t parent, const sigset_t *dfl)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	int fd, e;

	setpgid(0, 0);
	/* A server killed with -9 takes its CLI processes with it (the signal
	 * comes when the forking thread, the loop's, ends); one that died
	 * before this line is caught by the getppid check. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(dfl, sig) == 1)
			sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((fd = open("/dev/null", O_RDONLY)) < 0 || dup2(fd, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
	    chdir(c->pc_cwd) != 0)
		goto fail;
	proc_child_close_from_3(report);
	execve(path, c->pc_argv, c->pc_envp);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

/* fork + exec, waiting until the exec has happened or failed. 0, or the
 * child's errno (the failed child reaped). */
static int proc_fork_exec(struct proc_call *c, const char *path, int out[2], int err[2])
{
	int report[2], child_errno = 0;
	pid_t parent = getpid(), pid;
	sigset_t dfl;
	ssize_t r;

	proc_default_signals(&dfl);
	if (pipe2(report, O_CLOEXEC) != 0)
		return errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(report[0]);
		close(report[1]);
		return e;
	}
	if (pid == 0)
		proc_child(c, path, out[1], err[1], report[1], parent, &dfl);
	close(report[1]);
	while ((r = read(report[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
		;
	close(report[0]);
	if (r == (ssize_t)sizeof(child_errno)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return child_errno != 0 ? child_errno : EIO;
	}
	c->pc_pid = pid;
	return 0;
}

/* Starts the process. 0, or -1 with pc_outcome and pc_error set. */
static int proc_start(struct proc_call *c)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1}, rc;
	char *path = proc_resolve(c);
	struct stat sb;

	c->pc_outcome = PROC_OUTCOME_NOT_FOUND;
	if (path == NULL)
		return -1;
	c->pc_outcome = PROC_OUTCOME_SPAWN_FAILED;
	if (stat(c->pc_cwd, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		int e = errno;
		if (stat(c->pc_cwd, &sb) == 0)
			e = ENOTDIR;
		proc_set_error(c, "working directory %s: %s", c->pc_cwd, strerror(e));
		free(path);
		return -1;
	}
	if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
		proc_set_error(c, "pipe: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	rc = proc_fork_exec(c, path, out, err);
	if (rc != 0) {
		/* The file went away or changed since it was looked up. */
		if (rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR)
			c->pc_outcome = PROC_OUTCOME_NOT_FOUND;
		proc_set_error(c, "%s: %s", path, strerror(rc));
		c->pc_pid = 0;
		rc = -1;
		goto out;
	}
	c->pc_out = out[0];
	c->pc_err = err[0];
	out[0] = err[0] = -1;
	fcntl(c->pc_out, F_SETFL, O_NONBLOCK);
	fcntl(c->pc_err, F_SETFL, O_NONBLOCK);
	c->pc_pidfd = proc_pidfd_open(c->pc_pid);
	c->pc_started = clock_mono_ms();
	c->pc_deadline = c->pc_started + c->pc_timeout_ms;
	c->pc_outcome = PROC_OUTCOME_EXITED;
out:
	proc_close(&out[0]);
	proc_close(&out[1]);
	proc_close(&err[0]);
	proc_close(&err[1]);
	free(path);
	return rc;
}

/* ---- one process: ending it ----------------------------------------------- */

/* Takes the first reason to end the process: SIGTERM to its group now,
 * SIGKILL after the grace period. Once it is reaped only the reason is noted
 * (a refused last line). */
__attribute__((format(printf, 3, 4))) static void proc_kill(struct proc_call *c, enum proc_outcome why, const char *fmt,
							    ...)
{
	va_list ap;

	if (c->pc_killing)
		return;
	c->pc_killing = 1;
	c->pc_outcome = why;
	va_start(ap, fmt);
	vsnprintf(c->pc_error, sizeof(c->pc_error), fmt, ap);
	va_end(ap);
	if (c->pc_pid > 0 && !c->pc_reaped) {
		kill(-c->pc_pid, SIGTERM);
		c->pc_kill_at = clock_mono_ms() + c->pc_grace_ms;
	}
}

/* Reaps the process if it has exited. */
static void proc_try_reap(struct proc_call *c)
{
	siginfo_t si;

	if (c->pc_reaped || c->pc_pid <= 0)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pc_pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
		if (errno != ECHILD)
			return;
		/* Reaped behind our back (SIGCHLD ignored by someone): gone, status unknown. */
		c->pc_status_lost = 1;
	} else if (si.si_pid == 0) {
		return; /* still running */
	} else {
		/* A zombie, still holding its pid and so its group's id: what it
		 * left running in the group goes now, then it is reaped. */
		kill(-c->pc_pid, SIGKILL);
		while (waitpid(c->pc_pid, &c->pc_wstatus, 0) < 0 && errno == EINTR)
			;
	}
	c->pc_reaped = 1;
	c->pc_ended = clock_mono_ms();
	proc_close(&c->pc_pidfd);
}

/* ---- one process: its output ------------------------------------------------ */

static void proc_deliver(struct proc_call *c, const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (c->pc_on_line != NULL && c->pc_on_line(line, len, c->pc_arg) != 0)
		proc_kill(c, PROC_OUTCOME_ABORTED, "the reader refused a line of output");
}

/* Bytes of stdout: each complete line goes out, the rest waits for its end.
 * Nothing is kept or delivered once the process is being ended. */
static void proc_take_out(struct proc_call *c, const char *data, size_t n)
{
	while (n > 0 && !c->pc_killing) {
		const char *nl = memchr(data, '\n', n);
		size_t part = nl != NULL ? (size_t)(nl - data) : n;

		if (c->pc_line_len + part > c->pc_max_line) {
			c->pc_line_len = 0;
			proc_kill(c, PROC_OUTCOME_LINE_TOO_LONG, "a line of output is longer than %zu bytes",
				  c->pc_max_line);
			return;
		}
		if (nl != NULL && c->pc_line_len == 0) {
			proc_deliver(c, data, part); /* whole in this read: no copy */
		} else {
			if (c->pc_line_len + part > c->pc_line_cap) {
				size_t cap = c->pc_line_cap > 0 ? c->pc_line_cap : 4096;
				while (cap < c->pc_line_len + part)
					cap *= 2;
				if (cap > c->pc_max_line)
					cap = c->pc_max_line;
				c->pc_line = xrealloc(c->pc_line, cap);
				c->pc_line_cap = cap;
			}
			memcpy(c->pc_line + c->pc_line_len, data, part);
			c->pc_line_len += part;
			if (nl != NULL) {
				proc_deliver(c, c->pc_line, c->pc_line_len);
				c->pc_line_len = 0;
			}
		}
		if (nl == NULL)
			return;
		data += part + 1;
		n -= part + 1;
	}
}

/* Bytes of stderr: only the last pc_max_stderr are kept. */
static void proc_take_err(struct proc_call *c, const char *data, size_t n)
{
	size_t max = c->pc_max_stderr;

	if (n >= max) {
		memcpy(c->pc_errbuf, data + n - max, max);
		c->pc_err_len = max;
		return;
	}
	if (c->pc_err_len + n > max) {
		size_t drop = c->pc_err_len + n - max;
		memmove(c->pc_errbuf, c->pc_errbuf + drop, c->pc_err_len - drop);
		c->pc_err_len -= drop;
	}
	memcpy(c->pc_errbuf + c->pc_err_len, data, n);
	c->pc_err_len += n;
}

/* Reads what a pipe has, at most max_reads chunks, until it would block;
 * closes it at end of file or on an error. */
static void proc_read(struct proc_loop *loop, struct proc_call *c, int *fd, int is_out, int max_reads)
{
	for (int i = 0; *fd >= 0 && i < max_reads; i++) {
		ssize_t r = read(*fd, loop->pl_buf, PROC_READ_CHUNK);

		if (r > 0) {
			if (is_out)
				proc_take_out(c, loop->pl_buf, (size_t)r);
			else
				proc_take_err(c, loop->pl_buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		proc_close(fd);
	}
}

/* ---- the loop thread ------------------------------------------------------------- */

static void proc_active_link(struct proc_loop *loop, struct proc_call *c)
{
	c->pc_prev = NULL;
	c->pc_next = loop->pl_active;
	if (loop->pl_active != NULL)
		loop->pl_active->pc_prev = c;
	loop->pl_active = c;
}

static void proc_active_unlink(struct proc_loop *loop, struct proc_call *c)
{
	if (c->pc_prev != NULL)
		c->pc_prev->pc_next = c->pc_next;
	else
		loop->pl_active = c->pc_next;
	if (c->pc_next != NULL)
		c->pc_next->pc_prev = c->pc_prev;
	c->pc_next = c->pc_prev = NULL;
}

/* Calls back and frees a process that was never started or was reaped. */
static void proc_callback(struct proc_loop *loop, struct proc_call *c)
{
	int exited = c->pc_reaped && !c->pc_status_lost;
	struct proc_result r = {
		.id = c->pc_id,
		.outcome = c->pc_outcome,
		.pid = (int)c->pc_pid,
		.exit_code = exited && WIFEXITED(c->pc_wstatus) ? WEXITSTATUS(c->pc_wstatus) : -1,
		.term_signal = exited && WIFSIGNALED(c->pc_wstatus) ? WTERMSIG(c->pc_wstatus) : 0,
		.stderr_tail = c->pc_errbuf,
		.error = c->pc_outcome == PROC_OUTCOME_EXITED ? "" : c->pc_error,
		.elapsed_ms = c->pc_pid > 0 ? c->pc_ended - c->pc_started : 0,
	};

	c->pc_errbuf[c->pc_err_len] = '\0';
	c->pc_done(&r, c->pc_arg);
	atomic_fetch_sub(&loop->pl_pending, 1);
	proc_call_free(c);
}

/* A reaped process: what is still in its pipes, its last line, its callback. */
static void proc_finish(struct proc_loop *loop, struct proc_call *c)
{
	proc_read(loop, c, &c->pc_out, 1, PROC_DRAIN_READS);
	proc_read(loop, c, &c->pc_err, 0, PROC_DRAIN_READS);
	/* Whatever still holds a pipe open (a descendant that left the group)
	 * writes into the void from now on. */
	proc_close(&c->pc_out);
	proc_close(&c->pc_err);
	if (c->pc_line_len > 0 && !c->pc_killing)
		proc_deliver(c, c->pc_line, c->pc_line_len);
	proc_active_unlink(loop, c);
	proc_callback(loop, c);
}

static void proc_start_calls(struct proc_loop *loop, struct proc_call *queue, int stopping)
{
	while (queue != NULL) {
		struct proc_call *c = queue;

		queue = c->pc_next;
		c->pc_next = NULL;
		if (stopping) {
			c->pc_outcome = PROC_OUTCOME_CANCELLED;
			proc_set_error(c, "the process loop stopped before it started");
			proc_callback(loop, c);
		} else if (proc_start(c) != 0) {
			proc_callback(loop, c);
		} else {
			proc_active_link(loop, c);
		}
	}
}

static void proc_cancel_ids(struct proc_loop *loop, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (struct proc_call *c = loop->pl_active; c != NULL; c = c->pc_next)
			if (c->pc_id == ids[i]) {
				proc_kill(c, PROC_OUTCOME_CANCELLED, "cancelled");
				break;
			}
}

static void proc_fd_add(struct proc_loop *loop, size_t *n, int fd, struct proc_call *c)
{
	if (fd < 0)
		return;
	if (*n == loop->pl_fd_cap) {
		loop->pl_fd_cap = loop->pl_fd_cap > 0 ? loop->pl_fd_cap * 2 : 16;
		loop->pl_fds = xrealloc(loop->pl_fds, loop->pl_fd_cap * sizeof(*loop->pl_fds));
		loop->pl_fd_calls = xrealloc(loop->pl_fd_calls, loop->pl_fd_cap * sizeof(*loop->pl_fd_calls));
	}
	loop->pl_fds[*n] = (struct pollfd){.fd = fd, .events = POLLIN};
	loop->pl_fd_calls[(*n)++] = c;
}

/* Waits until a pipe or pidfd is ready, the wake pipe is poked, or the next
 * deadline (timeout, SIGKILL due) comes. */
static void proc_poll(struct proc_loop *loop)
{
	int64_t now = clock_mono_ms(), wait = -1;
	size_t n = 0;

	proc_fd_add(loop, &n, loop->pl_wake[0], NULL);
	for (struct proc_call *c = loop->pl_active; c != NULL; c = c->pc_next) {
		int64_t due = c->pc_kill_at > 0 ? c->pc_kill_at : c->pc_killing ? -1 : c->pc_deadline;
		int64_t cap = c->pc_pidfd >= 0 ? PROC_POLL_MAX_MS : PROC_POLL_NO_PIDFD_MS;

		proc_fd_add(loop, &n, c->pc_out, c);
		proc_fd_add(loop, &n, c->pc_err, c);
		proc_fd_add(loop, &n, c->pc_pidfd, c);
		if (due >= 0 && due - now < cap)
			cap = due > now ? due - now : 0;
		if (wait < 0 || cap < wait)
			wait = cap;
	}
	if (poll(loop->pl_fds, n, (int)wait) <= 0)
		return;
	if (loop->pl_fds[0].revents != 0) {
		char drain[64];
		while (read(loop->pl_wake[0], drain, sizeof(drain)) > 0)
			;
	}
	for (size_t i = 1; i < n; i++) {
		struct proc_call *c = loop->pl_fd_calls[i];
		int fd = loop->pl_fds[i].fd;

		if (loop->pl_fds[i].revents == 0)
			continue;
		if (fd == c->pc_out)
			proc_read(loop, c, &c->pc_out, 1, PROC_READS_PER_TURN);
		else if (fd == c->pc_err)
			proc_read(loop, c, &c->pc_err, 0, PROC_READS_PER_TURN);
	}
}

/* After a poll: exits, deadlines, SIGKILLs due; reaped processes finish. */
static void proc_check(struct proc_loop *loop)
{
	struct proc_call *c = loop->pl_active, *next;
	int64_t now = clock_mono_ms();

	for (; c != NULL; c = next) {
		next = c->pc_next;
		proc_try_reap(c);
		if (!c->pc_reaped && !c->pc_killing && now >= c->pc_deadline)
			proc_kill(c, PROC_OUTCOME_TIMEOUT, "timed out after %lld ms", (long long)c->pc_timeout_ms);
		if (!c->pc_reaped && c->pc_kill_at > 0 && now >= c->pc_kill_at) {
			kill(-c->pc_pid, SIGKILL);
			c->pc_kill_at = 0;
		}
		if (c->pc_reaped)
			proc_finish(loop, c);
	}
}

static void *proc_loop_main(void *arg)
{
	struct proc_loop *loop = arg;

	pthread_setname_np(pthread_self(), "bbb:llm-proc");

	for (;;) {
		struct proc_call *queue;
		uint64_t *cancels;
		size_t n_cancels;
		int stopping;

		pthread_mutex_lock(&loop->pl_mu);
		queue = loop->pl_queue_head;
		loop->pl_queue_head = loop->pl_queue_tail = NULL;
		cancels = loop->pl_cancels;
		n_cancels = loop->pl_n_cancels;
		loop->pl_cancels = NULL;
		loop->pl_n_cancels = loop->pl_cap_cancels = 0;
		stopping = loop->pl_stopping;
		pthread_mutex_unlock(&loop->pl_mu);

		proc_start_calls(loop, queue, stopping);
		proc_cancel_ids(loop, cancels, n_cancels);
		free(cancels);
		if (stopping) {
			for (struct proc_call *c = loop->pl_active; c != NULL; c = c->pc_next)
				proc_kill(c, PROC_OUTCOME_CANCELLED, "the process loop stopped");
			if (loop->pl_active == NULL)
				break;
		}
		proc_poll(loop);
		proc_check(loop);
	}
	return NULL;
}

/* ---- the API ------------------------------------------------------------------- */

static void proc_wake(struct proc_loop *loop)
{
	/* A full pipe already holds a wake-up. */
	ssize_t r = write(loop->pl_wake[1], "x", 1);
	(void)r;
}

int proc_loop_start(struct proc_loop **out, bbb_status *st)
{
	struct proc_loop *loop = xcalloc(1, sizeof(*loop));
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (pipe2(loop->pl_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		free(loop);
		return status_fail(st, "INTERNAL_ERROR", "process loop: pipe: %s", strerror(errno));
	}
	loop->pl_next_id = 1;
	loop->pl_buf = xmalloc(PROC_READ_CHUNK);
	pthread_mutex_init(&loop->pl_mu, NULL);
	/* Signals belong to the threads that wait for them, never to this one
	 * (the processes get their own mask back at spawn). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&loop->pl_thread, NULL, proc_loop_main, loop);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(loop->pl_wake[0]);
		close(loop->pl_wake[1]);
		pthread_mutex_destroy(&loop->pl_mu);
		free(loop->pl_buf);
		free(loop);
		return status_fail(st, "INTERNAL_ERROR", "process loop: pthread_create: %s", strerror(rc));
	}
	*out = loop;
	return 0;
}

int proc_loop_stop(struct proc_loop *loop)
{
	if (loop == NULL)
		return 0;
	if (pthread_equal(pthread_self(), loop->pl_thread))
		return -1;
	pthread_mutex_lock(&loop->pl_mu);
	loop->pl_stopping = 1;
	proc_wake(loop);
	pthread_mutex_unlock(&loop->pl_mu);
	pthread_join(loop->pl_thread, NULL);
	close(loop->pl_wake[0]);
	close(loop->pl_wake[1]);
	pthread_mutex_destroy(&loop->pl_mu);
	free(loop->pl_cancels);
	free(loop->pl_fds);
	free(loop->pl_fd_calls);
	free(loop->pl_buf);
	free(loop);
	return 0;
}

uint64_t proc_loop_submit(struct proc_loop *loop, const struct proc_request *req, proc_line_fn on_line,
			  proc_done_fn done, void *arg, bbb_status *st)
{
	struct proc_call *c;
	uint64_t id;

	if (req == NULL || req->program == NULL || req->program[0] == '\0' || req->argv == NULL ||
	    req->argv[0] == NULL || req->cwd == NULL || done == NULL) {
		status_fail(st, "VALIDATION_ERROR",
			    "process loop: a process needs a program, argv, a cwd and a callback");
		return 0;
	}
	c = proc_call_new(req);
	c->pc_on_line = on_line;
	c->pc_done = done;
	c->pc_arg = arg;
	pthread_mutex_lock(&loop->pl_mu);
	if (loop->pl_stopping) {
		pthread_mutex_unlock(&loop->pl_mu);
		proc_call_free(c);
		status_fail(st, "SHUTTING_DOWN", "process loop: stopping, no new processes");
		return 0;
	}
	id = c->pc_id = loop->pl_next_id++;
	if (loop->pl_queue_tail != NULL)
		loop->pl_queue_tail->pc_next = c;
	else
		loop->pl_queue_head = c;
	loop->pl_queue_tail = c;
	atomic_fetch_add(&loop->pl_pending, 1);
	proc_wake(loop);
	pthread_mutex_unlock(&loop->pl_mu);
	return id;
}

void proc_loop_cancel(struct proc_loop *loop, uint64_t id)
{
	pthread_mutex_lock(&loop->pl_mu);
	if (loop->pl_stopping) { /* stop kills everything anyway */
		pthread_mutex_unlock(&loop->pl_mu);
		return;
	}
	if (loop->pl_n_cancels == loop->pl_cap_cancels) {
		size_t cap = loop->pl_cap_cancels > 0 ? loop->pl_cap_cancels * 2 : 16;
		loop->pl_cancels = xrealloc(loop->pl_cancels, cap * sizeof(*loop->pl_cancels));
		loop->pl_cap_cancels = cap;
	}
	loop->pl_cancels[loop->pl_n_cancels++] = id;
	proc_wake(loop);
	pthread_mutex_unlock(&loop->pl_mu);
}

size_t proc_loop_pending(const struct proc_loop *loop)
{
	return atomic_load(&loop->pl_pending);
}
