/*
 * One thread for several background jobs that are mostly asleep: each job
 * runs when it is poked (job_poke: new events committed, a row to write) or
 * when the time it asked for comes (a heartbeat, a retry, a pass), and they
 * take turns on the thread. The server runs two of them: "bbb:events" for
 * the event publisher and the HTTP stream hub, which only read and send and
 * so never wait on the writer, and "bbb:store-jobs" for the audit trail and
 * event retention, which wait for their commits, and the WAL checkpointer
 * (store/checkpoint.h). Jobs that share a thread
 * must each return within a few milliseconds (do a bounded batch, ask to
 * run again at once for the rest): one job's turn delays the others.
 *
 * A job runs only on the thread, never two turns at once. Its callback gets
 * the CLOCK_MONOTONIC ms of its turn and returns when it wants the next one
 * (JOB_NOW: as soon as the others had theirs; JOB_IDLE: only when poked).
 * Pokes during a turn give another turn.
 *
 * Ownership: the job thread never owns a job; a job stays the caller's
 * memory from job_thread_add until job_thread_remove returns.
 */
#ifndef BBB_JOB_THREAD_H
#define BBB_JOB_THREAD_H

#include <stdint.h>

#include <beebeebrain/status.h>

#define JOB_NOW INT64_MIN
#define JOB_IDLE INT64_MAX

struct job_thread;

struct job {
	/* A turn; returns the CLOCK_MONOTONIC ms of the next one, JOB_NOW or
	 * JOB_IDLE. */
	int64_t (*j_run)(void *arg, int64_t now_ms);
	void *j_arg;
	/* The thread's, under its lock: */
	struct job_thread *j_thread;
	int64_t j_due;
	int j_poked;
	struct job *j_next;
};

/* Starts a thread named `name` (15 bytes at most). 0, or -1 with st set. */
int job_thread_start(struct job_thread **out, const char *name, bbb_status *st);
/* Adds j (j_run and j_arg set) and gives it a turn at once. Jobs take turns
 * in the order they were added. */
void job_thread_add(struct job_thread *t, struct job *j);
/* A turn for j soon. Any thread, after job_thread_add. */
void job_poke(struct job *j);
/* Takes j off the thread, waiting for a turn that runs; j_run is not called
 * again once this returns. Not from the job thread. */
void job_thread_remove(struct job_thread *t, struct job *j);
/* Stops and joins the thread (its jobs removed first). NULL: nothing. */
void job_thread_stop(struct job_thread *t);

#endif
