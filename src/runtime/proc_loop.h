/*
 * The process loop: ONE thread that runs every child process of the runtime
 * (the claude_code provider's CLI), reads their output as it comes and reaps
 * them, so that the dispatcher never waits on a pipe or a process. It is the
 * counterpart of the HTTP loop (http_loop.h) for providers that are programs.
 *
 *     struct proc_loop *loop;
 *     proc_loop_start(&loop, &st);
 *     uint64_t id = proc_loop_submit(loop, &req, on_line, on_done, ctx, &st);  any thread
 *     proc_loop_cancel(loop, id);                                           any thread
 *     proc_loop_stop(loop);     kills what is left, reaps, joins, frees
 *
 * Life of a process. proc_loop_submit copies the request and queues it; the
 * loop thread looks the executable up, checks the working directory, and
 * starts it (fork and exec, no shell): in a process group of its own (so that
 * killing the group also kills what it started), stdin from /dev/null, stdout
 * and stderr on pipes, the signal mask and the usual signals back at their
 * defaults, no descriptor of ours but those three, exactly the environment
 * given (nothing of the server's is inherited), and SIGKILL as its
 * parent-death signal: if the server dies without stopping the loop (kill
 * -9), the process dies too (what it started itself does not). Each complete stdout line
 * goes to on_line as it arrives; stderr is only kept as its last bytes, for
 * error messages. When the process has exited the loop kills what is left of
 * its group, reaps it (no zombie is ever left), reads what is still in the
 * pipe, hands over a last line that had no newline, and calls `done` exactly
 * once, whatever the ending.
 *
 * Killing: a timeout, a cancel, stop, a line callback that returns -1, or a
 * line longer than the limit sends SIGTERM to the process group, then
 * SIGKILL after the grace period if the process has not exited; `done` still
 * waits for the reap. Only the first reason counts; lines that arrive after
 * it are dropped.
 *
 * Memory is bounded whatever the process writes: one line buffer of at most
 * max_line_bytes (a longer line ends the process as PROC_OUTCOME_LINE_TOO_LONG
 * without being kept), and max_stderr_bytes of stderr.
 *
 * Threads: submit and cancel from any thread, also from a callback; stop from
 * any thread but the loop's (from a callback it returns -1). Callbacks run on
 * the loop thread, one at a time: they should copy or parse what they need
 * and never block, since they hold up every other process. The loop holds no
 * lock while calling back.
 *
 * Ownership: struct proc_request and what it points to are the caller's and
 * only read during proc_loop_submit. `arg` is the caller's, passed back to
 * both callbacks; it must stay valid until `done` has run (where to free it).
 * A line and struct proc_result (and its strings) belong to the loop and are
 * valid only during the callback.
 *
 * The loop reaps only its own children, by pid: it never waits for "any
 * child", so other parts of a process may run children of their own.
 */
#ifndef BBB_PROC_LOOP_H
#define BBB_PROC_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#define PROC_DEFAULT_MAX_LINE (4u * 1024 * 1024)
#define PROC_DEFAULT_MAX_STDERR 4096
#define PROC_DEFAULT_KILL_GRACE_MS 2000
#define PROC_DEFAULT_TIMEOUT_MS 90000

enum proc_outcome {
	PROC_OUTCOME_EXITED = 0, /* it ended by itself: see exit_code and term_signal */
	PROC_OUTCOME_TIMEOUT, /* timeout_ms passed: killed */
	PROC_OUTCOME_CANCELLED, /* proc_loop_cancel, or the loop was stopped: killed (or never started) */
	PROC_OUTCOME_ABORTED, /* a line callback returned -1: killed */
	PROC_OUTCOME_LINE_TOO_LONG, /* a stdout line passed max_line_bytes: killed */
	PROC_OUTCOME_NOT_FOUND, /* the executable does not exist or may not be run: nothing started */
	PROC_OUTCOME_SPAWN_FAILED, /* our side: no working directory, no pipe, spawn refused */
};

struct proc_request {
	const char *program; /* a name looked up in search_path, or a path with a '/' */
	const char *const *argv; /* argv[0] included, NULL-ended */
	const char *const *envp; /* the whole environment of the process, NULL-ended; NULL: empty */
	const char *cwd; /* required: the working directory */
	const char *search_path; /* ':'-separated directories for a bare program name; NULL: none */
	long timeout_ms; /* whole life of the process; <= 0: PROC_DEFAULT_TIMEOUT_MS */
	size_t max_line_bytes; /* 0: PROC_DEFAULT_MAX_LINE */
	size_t max_stderr_bytes; /* the tail kept; 0: PROC_DEFAULT_MAX_STDERR */
	long kill_grace_ms; /* SIGTERM to SIGKILL; <= 0: PROC_DEFAULT_KILL_GRACE_MS */
};

struct proc_result {
	uint64_t id; /* what submit returned */
	enum proc_outcome outcome;
	int pid; /* 0 when nothing started */
	int exit_code; /* it called exit: its status; else -1 */
	int term_signal; /* it was ended by a signal (ours or not): its number; else 0 */
	const char *stderr_tail; /* the last bytes of stderr, never NULL */
	const char *error; /* the loop's words when the outcome is not EXITED, else "" */
	int64_t elapsed_ms; /* from the start of the process to its reap */
};

/* One stdout line, without its "\n" (nor a "\r" before it); NOT NUL-ended.
 * Returns 0 to go on, -1 to end the process (PROC_OUTCOME_ABORTED). */
typedef int (*proc_line_fn)(const char *line, size_t len, void *arg);
typedef void (*proc_done_fn)(const struct proc_result *res, void *arg);

struct proc_loop;

/* Starts the loop thread. Returns 0, or -1 with *st set (INTERNAL_ERROR) and
 * *out NULL. */
int proc_loop_start(struct proc_loop **out, bbb_status *st);

/* Kills every process left (their `done` runs with PROC_OUTCOME_CANCELLED),
 * waits until each is reaped, joins the thread and frees the loop. Returns 0,
 * or -1 (nothing done) when called on the loop thread. */
int proc_loop_stop(struct proc_loop *loop);

/* Queues a process. Returns its id (> 0), or 0 with *st set: SHUTTING_DOWN
 * once stop has begun, VALIDATION_ERROR for a request without program, argv,
 * cwd or `done`. On 0 no callback will run. on_line may be NULL (lines are
 * then dropped). */
uint64_t proc_loop_submit(struct proc_loop *loop, const struct proc_request *req, proc_line_fn on_line,
			  proc_done_fn done, void *arg, bbb_status *st);

/* Asks the loop to kill process `id` (PROC_OUTCOME_CANCELLED). An id that
 * already ended, or is unknown, is ignored. Never blocks on the process. */
void proc_loop_cancel(struct proc_loop *loop, uint64_t id);

/* Processes submitted and not yet called back (a snapshot). */
size_t proc_loop_pending(const struct proc_loop *loop);

/* "exited", "timeout", "cancelled", "aborted", "line_too_long", "not_found", "spawn_failed". */
const char *proc_outcome_name(enum proc_outcome o);

#endif
