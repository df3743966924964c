/* server_state: named integers kept by the server (events_pruned_through,
 * writer_probe_at_ms, ...). */
#ifndef BBB_STATE_STORE_H
#define BBB_STATE_STORE_H

#include "store/db.h"
#include <stdint.h>

#include <beebeebrain/status.h>

/* The value of key, or dflt when it is not set (or cannot be read). */
int64_t store_state_get(struct db *db, const char *key, int64_t dflt);
/* Sets key to max(current, value). */
int store_state_raise(struct db *db, const char *key, int64_t value, bbb_status *st);

/* A write function (store_write_fn) for readiness: sets the one row
 * `writer_probe_at_ms` to the time now, so the writer must really write and
 * commit a page; the row is overwritten by every probe, never piles up. */
int store_state_probe_write(struct db *db, void *arg, bbb_status *st);

#endif
