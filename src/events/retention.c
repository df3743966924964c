/* Event retention job (see retention.h). */
#include "events/retention.h"

#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/event_store.h"

/* Rows one turn of the job deletes: the commit carrying them, which the
 * turn waits for, stays short, and so do the other jobs' waits (the audit
 * trail shares the thread) and the writes queued behind it. */
#define RETENTION_TURN_BATCH 500

struct retention {
	struct store *r_store;
	int64_t r_retention_ms;
	int64_t r_interval_ms;
	struct job_thread *r_jt;
	struct job r_job;
	int64_t r_removed; /* the job's: rows removed in this pass so far */
};

struct prune_args {
	int64_t pa_cutoff;
	int pa_batch;
	int pa_removed;
};

static int retention_prune_write(struct db *db, void *arg, bbb_status *st)
{
	struct prune_args *pa = arg;

	return store_event_prune(db, pa->pa_cutoff, pa->pa_batch, &pa->pa_removed, st);
}

/* A turn: one batch; the next turn at once while there is more, else after
 * the interval. */
static int64_t retention_turn(void *arg, int64_t now)
{
	struct retention *r = arg;
	struct prune_args pa = {.pa_cutoff = clock_now_ms() - r->r_retention_ms, .pa_batch = RETENTION_TURN_BATCH};
	bbb_status st;

	status_clear(&st);
	if (store_write(r->r_store, retention_prune_write, &pa, 0, &st) != 0) {
		log_warn("events", "event retention pass failed: %s %s", st.reason, st.message);
		r->r_removed = 0;
		return now + r->r_interval_ms;
	}
	if (pa.pa_removed > 0) {
		r->r_removed += pa.pa_removed;
		return JOB_NOW;
	}
	if (r->r_removed > 0)
		log_info("events", "retention removed %lld event(s)", (long long)r->r_removed);
	r->r_removed = 0;
	return now + r->r_interval_ms;
}

int retention_start(struct retention **out, struct store *s, int64_t retention_ms, struct job_thread *jt,
		    bbb_status *st)
{
	struct retention *r = xcalloc(1, sizeof(*r));

	(void)st;
	r->r_store = s;
	r->r_retention_ms = retention_ms;
	r->r_interval_ms = retention_ms / 10;
	if (r->r_interval_ms > 3600 * 1000)
		r->r_interval_ms = 3600 * 1000;
	if (r->r_interval_ms < 1000)
		r->r_interval_ms = 1000;
	r->r_jt = jt;
	r->r_job.j_run = retention_turn;
	r->r_job.j_arg = r;
	job_thread_add(jt, &r->r_job);
	*out = r;
	return 0;
}

void retention_stop(struct retention *r)
{
	if (r == NULL)
		return;
	job_thread_remove(r->r_jt, &r->r_job);
	free(r);
}
