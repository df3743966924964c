/* Event retention thread (see retention.h). */
#include "events/retention.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/event_store.h"

#define RETENTION_BATCH 5000

struct retention {
	struct store *r_store;
	int64_t r_retention_ms;
	int64_t r_interval_ms;
	pthread_t r_thread;
	pthread_mutex_t r_mu;
	pthread_cond_t r_cv;
	int r_stopping;
};

struct prune_args {
	int64_t pa_cutoff;
	int pa_removed;
};

static int retention_prune_write(sqlite3 *db, void *arg, bbb_status *st)
{
	struct prune_args *pa = arg;

	return store_event_prune(db, pa->pa_cutoff, RETENTION_BATCH, &pa->pa_removed, st);
}

int retention_prune(struct store *s, int64_t retention_ms, int64_t *removed, bbb_status *st)
{
	struct prune_args pa = {.pa_cutoff = clock_now_ms() - retention_ms};
	int64_t total = 0;

	do {
		pa.pa_removed = 0;
		if (store_write(s, retention_prune_write, &pa, 0, st) != 0)
			return -1;
		total += pa.pa_removed;
	} while (pa.pa_removed > 0);
	if (removed != NULL)
		*removed = total;
	return 0;
}

static void *retention_main(void *arg)
{
	struct retention *r = arg;

	pthread_setname_np(pthread_self(), "bbb:retention");

	pthread_mutex_lock(&r->r_mu);
	while (!r->r_stopping) {
		struct timespec ts;
		int64_t removed = 0;
		bbb_status st;

		pthread_mutex_unlock(&r->r_mu);
		status_clear(&st);
		if (retention_prune(r->r_store, r->r_retention_ms, &removed, &st) != 0)
			log_warn("events", "event retention pass failed: %s %s", st.reason, st.message);
		else if (removed > 0)
			log_info("events", "retention removed %lld event(s)", (long long)removed);
		pthread_mutex_lock(&r->r_mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += r->r_interval_ms / 1000;
		ts.tv_nsec += (r->r_interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!r->r_stopping)
			pthread_cond_timedwait(&r->r_cv, &r->r_mu, &ts);
	}
	pthread_mutex_unlock(&r->r_mu);
	return NULL;
}

int retention_start(struct retention **out, struct store *s, int64_t retention_ms, bbb_status *st)
{
	struct retention *r = xcalloc(1, sizeof(*r));
	pthread_condattr_t attr;

	r->r_store = s;
	r->r_retention_ms = retention_ms;
	r->r_interval_ms = retention_ms / 10;
	if (r->r_interval_ms > 3600 * 1000)
		r->r_interval_ms = 3600 * 1000;
	if (r->r_interval_ms < 1000)
		r->r_interval_ms = 1000;
	pthread_mutex_init(&r->r_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&r->r_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&r->r_thread, NULL, retention_main, r) != 0) {
		free(r);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the retention thread");
	}
	*out = r;
	return 0;
}

void retention_stop(struct retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->r_mu);
	r->r_stopping = 1;
	pthread_cond_signal(&r->r_cv);
	pthread_mutex_unlock(&r->r_mu);
	pthread_join(r->r_thread, NULL);
	pthread_mutex_destroy(&r->r_mu);
	pthread_cond_destroy(&r->r_cv);
	free(r);
}
