/*
 * Event retention: a background job (on the thread it shares with the audit
 * trail, common/job_thread.h) that removes events older than the retention
 * period, oldest first, a batch of a few hundred per write, so it never
 * holds the writer, or the thread, for long. The highest removed id is kept in server_state
 * (events_pruned_through): a replay that starts before it is OUT_OF_RANGE
 * EVENTS_PRUNED instead of silently missing events.
 */
#ifndef BBB_RETENTION_H
#define BBB_RETENTION_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "common/job_thread.h"
#include "store/store.h"

struct retention;

/* Adds the job to jt (which must outlive it): a pass at once, then every
 * min(retention / 10, 1 h), at least every second. */
int retention_start(struct retention **out, struct store *s, int64_t retention_ms, struct job_thread *jt,
		    bbb_status *st);
/* Takes the job off its thread (after the batch it runs) and frees it. */
void retention_stop(struct retention *r);

#endif
