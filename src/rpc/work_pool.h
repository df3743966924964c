/*
 * The worker pool both listeners share: `workers` + 1 threads (bbb:worker)
 * that run the calls the RPC transport and the HTTP face queue, in arrival
 * order whatever their listener, and one waiter thread (bbb:waiter) that
 * polls the deferred calls (RunTask with wait) of both.
 *
 * Why one pool: a worker spends its life waiting, mostly in store_write for
 * the group commit; two pools of 8 doubled the threads without doubling
 * anything the writer can take. The workers bound how many writes one group
 * commit carries (server.c), and that bound is the same whichever listener a
 * write came on.
 *
 * One listener runs at most `workers` calls at once (a queued call of a
 * listener at that limit is passed over, not refused), so while every call
 * of one waits, say RPC writes behind a held database lock, the spare thread
 * serves the other: an operator's ClearFaults or a /metrics scrape over
 * HTTP is still answered.
 *
 * A listener owns a work_source: its admission limits (the calls and bytes
 * that may wait for a worker; 0: no limit) and the count of its calls still
 * in the pool (queued, running, or deferred). work_source_drain closes a
 * source and waits until that count is 0, so a listener can stop while the
 * other goes on serving: its queued calls still run (a call's run function
 * decides what running means once its listener stops: the RPC transport
 * answers SHUTTING_DOWN), and its deferred calls are polled with force (the
 * answer is the state at that moment).
 *
 * Every thread has its own state from worker_init (the read connection),
 * made at start before any thread runs; a run function and a deferred poll
 * get the state of the thread they run on. A queued call wakes the worker
 * that went idle last, so light traffic keeps to few threads and few
 * database sessions (a PostgreSQL reader starts its session at its first
 * statement).
 *
 * Ownership: the pool never owns a work_item or a work_deferred; they live in
 * the listener's own structures (a receiver, an HTTP request). After wi_run
 * or wd_answer is called the pool does not touch the item again (the
 * callback may reuse or free it).
 */
#ifndef BBB_WORK_POOL_H
#define BBB_WORK_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

struct rpc_deferred;

struct work_pool_options {
	int workers; /* >= 1: the calls one listener runs at once */
	int (*worker_init)(void *env, void **worker, bbb_status *st);
	void (*worker_fini)(void *worker);
	/* 0 when a worker's state cannot serve a call now (its database
	 * session could not be started): it goes idle below the others, so
	 * that calls go to a worker that can. NULL: always ready. */
	int (*worker_ready)(void *worker);
	void *env;
};

/* A listener's place in the pool. Fields under the pool's lock. */
struct work_source {
	int ws_calls_max; /* calls waiting for a worker; 0: no limit */
	size_t ws_bytes_max; /* their bytes; 0: no limit */
	int ws_queued; /* waiting for a worker */
	int ws_running; /* on a worker */
	size_t ws_bytes;
	int ws_inside; /* queued, running or deferred */
	int ws_closed; /* no call enters any more; deferred calls are forced */
};

struct work_item {
	/* Runs the call on a worker, with that worker's state. */
	void (*wi_run)(struct work_item *it, void *worker);
	struct work_source *wi_src; /* set by work_pool_submit */
	size_t wi_bytes;
	struct work_item *wi_next;
};

struct work_deferred {
	/* Answers the call, on the waiter, with the reply (the pool frees it
	 * and the rpc_deferred after the call). */
	void (*wd_answer)(struct work_deferred *d, const uint8_t *out, size_t len);
	struct rpc_deferred *wd_df; /* set by work_pool_defer */
	struct work_source *wd_src;
	struct work_deferred *wd_next;
};

struct work_pool;

/* Makes every state, then starts the workers and the waiter. 0, or -1 with
 * st set and nothing left running. */
int work_pool_start(struct work_pool **out, const struct work_pool_options *o, bbb_status *st);
/* A source with these limits (0: none), open. */
void work_source_init(struct work_source *src, int calls_max, size_t bytes_max);

#define WORK_QUEUED 0
#define WORK_CLOSED (-1) /* the source is closed: the caller answers or drops the call */
#define WORK_FULL (-2) /* past the source's limits: the caller refuses the call */
/* Queues it (bytes: its share of the source's byte limit). Past a limit the
 * call is refused unless none of the source's calls waits, so that one call
 * of any size is always taken. Any thread; never blocks on the workers. */
int work_pool_submit(struct work_pool *p, struct work_source *src, struct work_item *it, size_t bytes);
/* Hands a deferred call to the waiter (from a worker's wi_run, for a call of
 * src): it is polled after every work_pool_poke and every 250 ms, and
 * answered once ready, past its deadline, or when src is closed. */
void work_pool_defer(struct work_pool *p, struct work_source *src, struct work_deferred *d, struct rpc_deferred *df);
/* Something committed: the deferred calls look again. NULL: nothing. Any
 * thread. */
void work_pool_poke(struct work_pool *p);
/* Closes src and waits until its calls have run and its deferred calls are
 * answered. Not from a pool thread. */
void work_source_drain(struct work_pool *p, struct work_source *src);
/* Stops the threads and closes the states, after every source was drained.
 * NULL: nothing. */
void work_pool_stop(struct work_pool *p);

#endif
