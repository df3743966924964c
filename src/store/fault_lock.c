/* db_lock fault: a connection that holds the write lock (BEGIN IMMEDIATE on
 * SQLite, the writers' advisory lock on PostgreSQL) for a while, or until
 * ClearFaults stops it (store_fault_release_all). Holders are counted and
 * stopped under one process-wide mutex; each waits on a condition variable
 * (CLOCK_MONOTONIC) instead of sleeping, so a stop wakes it at once. */
#include "store/fault_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/store.h"

struct fault_hold {
	struct db *fh_db;
	int fh_ms;
	unsigned fh_gen; /* fault_stop_gen when it started: a newer one stops it */
};

static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fault_cv; /* under fault_mu: a stop was asked, or a holder let go */
static pthread_once_t fault_once = PTHREAD_ONCE_INIT;
static int fault_held; /* holders holding the lock now */
static unsigned fault_stop_gen; /* raised by each store_fault_release_all */

static void fault_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&fault_cv, &attr);
	pthread_condattr_destroy(&attr);
}

static struct timespec fault_deadline(int64_t mono_ms)
{
	struct timespec ts = {.tv_sec = mono_ms / 1000, .tv_nsec = (long)(mono_ms % 1000) * 1000000};

	return ts;
}

static void *fault_release_main(void *arg)
{
	struct fault_hold *h = arg;
	int64_t until = clock_mono_ms() + h->fh_ms;
	struct timespec ts = fault_deadline(until);
	int stopped;

	pthread_mutex_lock(&fault_mu);
	while (fault_stop_gen == h->fh_gen && clock_mono_ms() < until)
		pthread_cond_timedwait(&fault_cv, &fault_mu, &ts);
	stopped = fault_stop_gen != h->fh_gen;
	pthread_mutex_unlock(&fault_mu);
	db_exec(h->fh_db, "ROLLBACK");
	store_conn_close(h->fh_db);
	if (stopped)
		log_warn("fault", "injected db_lock released early: the faults were cleared");
	else
		log_warn("fault", "injected db_lock released after %d ms", h->fh_ms);
	pthread_mutex_lock(&fault_mu);
	fault_held--;
	pthread_cond_broadcast(&fault_cv);
	pthread_mutex_unlock(&fault_mu);
	free(h);
	return NULL;
}

int store_fault_hold_lock(const char *path, int duration_ms, bbb_status *st)
{
	struct fault_hold *h = xcalloc(1, sizeof(*h));
	pthread_t t;

	pthread_once(&fault_once, fault_init);
	h->fh_ms = duration_ms;
	if (store_conn_open(path, 0, 1, 5000, &h->fh_db, st) != 0) {
		free(h);
		return -1;
	}
	if (store_begin_write(h->fh_db, st) != 0) {
		store_conn_close(h->fh_db);
		free(h);
		return -1;
	}
	pthread_mutex_lock(&fault_mu);
	h->fh_gen = fault_stop_gen;
	fault_held++;
	pthread_mutex_unlock(&fault_mu);
	if (pthread_create(&t, NULL, fault_release_main, h) != 0) {
		db_exec(h->fh_db, "ROLLBACK");
		store_conn_close(h->fh_db);
		free(h);
		pthread_mutex_lock(&fault_mu);
		fault_held--;
		pthread_mutex_unlock(&fault_mu);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the fault thread");
	}
	pthread_detach(t);
	log_warn("fault", "injected db_lock: write lock held for %d ms", duration_ms);
	return 0;
}

int store_fault_release_all(int wait_ms)
{
	int64_t until = clock_mono_ms() + wait_ms;
	struct timespec ts = fault_deadline(until);
	int n;

	pthread_once(&fault_once, fault_init);
	pthread_mutex_lock(&fault_mu);
	n = fault_held;
	fault_stop_gen++;
	pthread_cond_broadcast(&fault_cv);
	while (fault_held > 0 && clock_mono_ms() < until)
		pthread_cond_timedwait(&fault_cv, &fault_mu, &ts);
	pthread_mutex_unlock(&fault_mu);
	return n;
}
