/* Alerts table: at most one open alert per dedup_key (a partial unique index). */
#ifndef BBB_ALERT_STORE_H
#define BBB_ALERT_STORE_H

#include <sqlite3.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* The open alert with this dedup key: 1 and *out set, 0 when none, -1 on error. */
int store_alert_find_open(sqlite3 *db, const char *dedup_key, struct arena *a, Beebeebrain__V1__Alert **out,
			  bbb_status *st);
/* Inserts a (status open, raise_count 1, both raise times now); sets id and times. */
int store_alert_insert(sqlite3 *db, Beebeebrain__V1__Alert *a, bbb_status *st);
/* raise_count + 1, last_raised_at = now, message updated; updates *a to match. */
int store_alert_bump(sqlite3 *db, Beebeebrain__V1__Alert *a, const char *message, bbb_status *st);
/* status resolved, resolved_at = now; updates *a to match. */
int store_alert_resolve(sqlite3 *db, Beebeebrain__V1__Alert *a, bbb_status *st);
/* Open alerts, newest first, at most `limit`. */
int store_alert_list_open(sqlite3 *db, int limit, struct arena *a, Beebeebrain__V1__Alert ***out, size_t *n,
			  bbb_status *st);

#endif
