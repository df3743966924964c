/*
 * Event retention: a background thread that removes events older than the
 * retention period, oldest first, in small write transactions so it never
 * holds the writer for long. The highest removed id is kept in server_state
 * (events_pruned_through): a replay that starts before it is OUT_OF_RANGE
 * EVENTS_PRUNED instead of silently missing events.
 */
#ifndef BBB_RETENTION_H
#define BBB_RETENTION_H

#include <stdint.h>

#include <beebeebrain/status.h>

#include "store/store.h"

struct retention;

/* Prunes every min(retention / 10, 1 h), at least every second. */
int retention_start(struct retention **out, struct store *s, int64_t retention_ms, bbb_status *st);
void retention_stop(struct retention *r);
/* One full pass now (used by the thread, and by tests). *removed may be NULL. */
int retention_prune(struct store *s, int64_t retention_ms, int64_t *removed, bbb_status *st);

#endif
