/* The worker pool of both listeners (see work_pool.h). */
#include "rpc/work_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/status.h"
#include "common/xalloc.h"
#include "rpc/dispatch.h"

/* How often the waiter polls its deferred calls without a poke: a deadline
 * passes without a commit. */
#define WORK_WAITER_POLL_MS 250

/* Threads beyond `workers`. A listener runs at most `workers` calls at once,
 * so while every call of one waits (RPC writes behind a held database lock)
 * the other still has a worker: an operator's ClearFaults or a /metrics
 * scrape over HTTP is answered. */
#define WORK_SPARE_THREADS 1

struct work_worker {
	struct work_pool *ww_pool;
	pthread_t ww_thread;
	void *ww_state;
	int ww_started;
	pthread_cond_t ww_cv; /* wakes this worker alone */
	int ww_idle; /* on the idle stack (under wp_mu) */
	struct work_worker *ww_next_idle;
};

/*
 * wp_mu guards the queue, the deferred list, the flags, the idle stack and
 * every source's counters. An idle worker waits on its own condition
 * variable, on a stack: a queued call wakes the worker that went idle last,
 * so light traffic keeps to few workers (and the database sessions their
 * states open on first use, store_worker_reader_open) while the others sleep;
 * stop wakes them all. wp_wcv (CLOCK_MONOTONIC) wakes the waiter, wp_idle_cv
 * the drains (a source emptied). The states are each their thread's.
 */
struct work_pool {
	struct work_pool_options wp_opts;
	pthread_mutex_t wp_mu;
	struct work_worker *wp_idle; /* the last to go idle first */
	pthread_cond_t wp_wcv;
	pthread_cond_t wp_idle_cv;
	struct work_item *wp_head, *wp_tail; /* oldest first */
	struct work_deferred *wp_deferred;
	int wp_polling; /* the waiter holds the deferred calls it polls */
	int wp_poked;
	int wp_stop;
	struct work_worker *wp_workers;
	int wp_n_workers;
	pthread_t wp_waiter;
	int wp_waiter_started;
	void *wp_waiter_state;
};

void work_source_init(struct work_source *src, int calls_max, size_t bytes_max)
{
	*src = (struct work_source){.ws_calls_max = calls_max, .ws_bytes_max = bytes_max};
}

/* One of src's calls left the pool. Under wp_mu. */
static void work_source_leave(struct work_pool *p, struct work_source *src)
{
	if (--src->ws_inside == 0)
		pthread_cond_broadcast(&p->wp_idle_cv);
}

/* Takes the oldest queued call whose listener runs fewer than `workers`
 * calls; NULL when there is none. Under wp_mu. The scan passes only calls
 * of a listener at its limit (at most its admission limit of them). */
static struct work_item *work_pool_take(struct work_pool *p)
{
	struct work_item *prev = NULL, *it;

	for (it = p->wp_head; it != NULL; prev = it, it = it->wi_next)
		if (it->wi_src->ws_running < p->wp_opts.workers)
			break;
	if (it == NULL)
		return NULL;
	if (prev != NULL)
		prev->wi_next = it->wi_next;
	else
		p->wp_head = it->wi_next;
	if (p->wp_tail == it)
		p->wp_tail = prev;
	it->wi_src->ws_queued--;
	it->wi_src->ws_bytes -= it->wi_bytes;
	it->wi_src->ws_running++;
	return it;
}

/* Takes w off the idle stack. Under wp_mu. */
static void work_idle_remove(struct work_pool *p, struct work_worker *w)
{
	struct work_worker **at = &p->wp_idle;

	while (*at != NULL && *at != w)
		at = &(*at)->ww_next_idle;
	if (*at == w)
		*at = w->ww_next_idle;
	w->ww_idle = 0;
}

/* Puts w on the idle stack: on top, or at the bottom when its state cannot
 * serve now (worker_ready). Under wp_mu. */
static void work_idle_push(struct work_pool *p, struct work_worker *w)
{
	struct work_worker **at = &p->wp_idle;

	if (p->wp_opts.worker_ready != NULL && !p->wp_opts.worker_ready(w->ww_state))
		while (*at != NULL)
			at = &(*at)->ww_next_idle;
	w->ww_next_idle = *at;
	*at = w;
	w->ww_idle = 1;
}

static void *work_worker_main(void *arg)
{
	struct work_worker *w = arg;
	struct work_pool *p = w->ww_pool;

	pthread_setname_np(pthread_self(), "bbb:worker");

	pthread_mutex_lock(&p->wp_mu);
	for (;;) {
		struct work_item *it;
		struct work_source *src;

		while ((it = work_pool_take(p)) == NULL && !(p->wp_stop && p->wp_head == NULL)) {
			if (!w->ww_idle) /* not after a wake-up that left it there */
				work_idle_push(p, w);
			pthread_cond_wait(&w->ww_cv, &p->wp_mu);
		}
		if (w->ww_idle) /* woken spuriously: a submit must not count on it */
			work_idle_remove(p, w);
		if (it == NULL)
			break;
		src = it->wi_src;
		pthread_mutex_unlock(&p->wp_mu);
		it->wi_run(it, w->ww_state); /* it may be reused from here on */
		pthread_mutex_lock(&p->wp_mu);
		/* Back under its limit: this thread looks at the queue next. */
		src->ws_running--;
		work_source_leave(p, src);
	}
	pthread_mutex_unlock(&p->wp_mu);
	return NULL;
}

/* Waits for a poke, stop, or WORK_WAITER_POLL_MS. Under wp_mu. */
static void work_waiter_sleep(struct work_pool *p)
{
	struct timespec ts;

	if (p->wp_poked || p->wp_stop)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += WORK_WAITER_POLL_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->wp_wcv, &p->wp_mu, &ts);
}

/* Polls one deferred call; answers it when it is time. 1 when answered. */
static int work_waiter_poll(struct work_pool *p, struct work_deferred *d, int force)
{
	struct rpc_deferred *df = d->wd_df;
	struct work_source *src = d->wd_src;
	uint8_t *out = NULL;
	size_t len = 0;

	if (!rpc_deferred_poll(df, p->wp_waiter_state, force, &out, &len))
		return 0;
	d->wd_answer(d, out, len); /* d may be freed from here on */
	free(out);
	rpc_deferred_free(df);
	pthread_mutex_lock(&p->wp_mu);
	work_source_leave(p, src);
	pthread_mutex_unlock(&p->wp_mu);
	return 1;
}

/* The waiter: polls the deferred calls after every poke (a commit) and every
 * WORK_WAITER_POLL_MS; a call of a closed source, or any call once the pool
 * stops, is answered with the state at that moment. */
static void *work_waiter_main(void *arg)
{
	struct work_pool *p = arg;

	pthread_setname_np(pthread_self(), "bbb:waiter");

	pthread_mutex_lock(&p->wp_mu);
	for (;;) {
		struct work_deferred *list, *keep = NULL, *forced = NULL;

		work_waiter_sleep(p);
		p->wp_poked = 0;
		/* Split under the lock: whether a call is forced reads its
		 * source's flag. */
		list = p->wp_deferred;
		p->wp_deferred = NULL;
		p->wp_polling = list != NULL;
		while (list != NULL) {
			struct work_deferred *d = list;
			int force = p->wp_stop || d->wd_src->ws_closed || p->wp_waiter_state == NULL;
			list = d->wd_next;
			d->wd_next = force ? forced : keep;
			if (force)
				forced = d;
			else
				keep = d;
		}
		list = keep;
		keep = NULL;
		pthread_mutex_unlock(&p->wp_mu);

		while (forced != NULL) {
			struct work_deferred *d = forced;
			forced = d->wd_next;
			work_waiter_poll(p, d, 1);
		}
		while (list != NULL) {
			struct work_deferred *d = list;
			list = d->wd_next;
			if (!work_waiter_poll(p, d, 0)) {
				d->wd_next = keep;
				keep = d;
			}
		}

		pthread_mutex_lock(&p->wp_mu);
		while (keep != NULL) {
			struct work_deferred *next = keep->wd_next;
			keep->wd_next = p->wp_deferred;
			p->wp_deferred = keep;
			keep = next;
		}
		p->wp_polling = 0;
		if (p->wp_stop && p->wp_deferred == NULL)
			break;
	}
	pthread_mutex_unlock(&p->wp_mu);
	return NULL;
}

int work_pool_submit(struct work_pool *p, struct work_source *src, struct work_item *it, size_t bytes)
{
	pthread_mutex_lock(&p->wp_mu);
	if (src->ws_closed) {
		pthread_mutex_unlock(&p->wp_mu);
		return WORK_CLOSED;
	}
	if (src->ws_queued > 0 && ((src->ws_calls_max > 0 && src->ws_queued >= src->ws_calls_max) ||
				   (src->ws_bytes_max > 0 && src->ws_bytes + bytes > src->ws_bytes_max))) {
		pthread_mutex_unlock(&p->wp_mu);
		return WORK_FULL;
	}
	it->wi_src = src;
	it->wi_bytes = bytes;
	it->wi_next = NULL;
	if (p->wp_tail != NULL)
		p->wp_tail->wi_next = it;
	else
		p->wp_head = it;
	p->wp_tail = it;
	src->ws_queued++;
	src->ws_bytes += bytes;
	src->ws_inside++;
	if (p->wp_idle != NULL) {
		struct work_worker *w = p->wp_idle;

		p->wp_idle = w->ww_next_idle;
		w->ww_idle = 0;
		pthread_cond_signal(&w->ww_cv);
	}
	pthread_mutex_unlock(&p->wp_mu);
	return WORK_QUEUED;
}

void work_pool_defer(struct work_pool *p, struct work_source *src, struct work_deferred *d, struct rpc_deferred *df)
{
	d->wd_df = df;
	d->wd_src = src;
	pthread_mutex_lock(&p->wp_mu);
	src->ws_inside++;
	d->wd_next = p->wp_deferred;
	p->wp_deferred = d;
	p->wp_poked = 1;
	pthread_cond_signal(&p->wp_wcv);
	pthread_mutex_unlock(&p->wp_mu);
}

void work_pool_poke(struct work_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->wp_mu);
	/* Only deferred calls look; one deferred later is polled when it is. */
	if (p->wp_deferred != NULL || p->wp_polling) {
		p->wp_poked = 1;
		pthread_cond_signal(&p->wp_wcv);
	}
	pthread_mutex_unlock(&p->wp_mu);
}

void work_source_drain(struct work_pool *p, struct work_source *src)
{
	pthread_mutex_lock(&p->wp_mu);
	src->ws_closed = 1;
	p->wp_poked = 1; /* its deferred calls are answered now */
	pthread_cond_signal(&p->wp_wcv);
	while (src->ws_inside > 0)
		pthread_cond_wait(&p->wp_idle_cv, &p->wp_mu);
	pthread_mutex_unlock(&p->wp_mu);
}

/* Joins what was started and closes every state. */
static void work_pool_release(struct work_pool *p)
{
	pthread_mutex_lock(&p->wp_mu);
	p->wp_stop = 1;
	for (int i = 0; i < p->wp_n_workers; i++)
		pthread_cond_signal(&p->wp_workers[i].ww_cv);
	pthread_cond_signal(&p->wp_wcv);
	pthread_mutex_unlock(&p->wp_mu);
	for (int i = 0; i < p->wp_n_workers; i++)
		if (p->wp_workers[i].ww_started)
			pthread_join(p->wp_workers[i].ww_thread, NULL);
	if (p->wp_waiter_started)
		pthread_join(p->wp_waiter, NULL);
	for (int i = 0; i < p->wp_n_workers; i++)
		if (p->wp_opts.worker_fini != NULL && p->wp_workers[i].ww_state != NULL)
			p->wp_opts.worker_fini(p->wp_workers[i].ww_state);
	if (p->wp_opts.worker_fini != NULL && p->wp_waiter_state != NULL)
		p->wp_opts.worker_fini(p->wp_waiter_state);
	pthread_cond_destroy(&p->wp_idle_cv);
	pthread_cond_destroy(&p->wp_wcv);
	for (int i = 0; i < p->wp_n_workers; i++)
		pthread_cond_destroy(&p->wp_workers[i].ww_cv);
	pthread_mutex_destroy(&p->wp_mu);
	free(p->wp_workers);
	free(p);
}

int work_pool_start(struct work_pool **out, const struct work_pool_options *o, bbb_status *st)
{
	struct work_pool *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t attr;

	p->wp_opts = *o;
	pthread_mutex_init(&p->wp_mu, NULL);
	pthread_cond_init(&p->wp_idle_cv, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wp_wcv, &attr);
	pthread_condattr_destroy(&attr);
	p->wp_n_workers = o->workers + WORK_SPARE_THREADS;
	p->wp_workers = xcalloc((size_t)p->wp_n_workers, sizeof(*p->wp_workers));
	/* States first, before any thread: a failure is simple to report, and
	 * a SQLite connection may be used by another thread than the one that
	 * opened it (one at a time). */
	for (int i = 0; i < p->wp_n_workers; i++)
		pthread_cond_init(&p->wp_workers[i].ww_cv, NULL);
	for (int i = 0; i < p->wp_n_workers; i++) {
		p->wp_workers[i].ww_pool = p;
		if (o->worker_init != NULL && o->worker_init(o->env, &p->wp_workers[i].ww_state, st) != 0)
			goto fail;
	}
	if (o->worker_init != NULL && o->worker_init(o->env, &p->wp_waiter_state, st) != 0)
		goto fail;
	for (int i = 0; i < p->wp_n_workers; i++) {
		if (pthread_create(&p->wp_workers[i].ww_thread, NULL, work_worker_main, &p->wp_workers[i]) != 0) {
			status_fail(st, "INTERNAL_ERROR", "cannot start worker %d", i);
			goto fail;
		}
		p->wp_workers[i].ww_started = 1;
	}
	if (pthread_create(&p->wp_waiter, NULL, work_waiter_main, p) != 0) {
		status_fail(st, "INTERNAL_ERROR", "cannot start the waiter of deferred calls");
		goto fail;
	}
	p->wp_waiter_started = 1;
	*out = p;
	return 0;
fail:
	work_pool_release(p);
	return -1;
}

void work_pool_stop(struct work_pool *p)
{
	if (p != NULL)
		work_pool_release(p);
}
