/* Alerts table: at most one open alert per dedup_key (a partial unique index). */
#ifndef BBB_ALERT_STORE_H
#define BBB_ALERT_STORE_H

#include "store/db.h"
#include <stddef.h>
#include <stdint.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* The open alert with this dedup key: 1 and *out set, 0 when none, -1 on error. */
int store_alert_find_open(struct db *db, const char *dedup_key, struct arena *a, Beebeebrain__V1__Alert **out,
			  bbb_status *st);
/* Inserts a (status open, raise_count 1, both raise times now); sets id and
 * times: 0. When an alert with its dedup key is open already (another
 * server's transaction inserted it since the caller looked: the partial
 * unique index), inserts nothing and returns 1: find it again and bump it.
 * -1 on error. */
int store_alert_insert(struct db *db, Beebeebrain__V1__Alert *a, bbb_status *st);
/* raise_count + 1, last_raised_at = now, message updated; updates *a to match. */
int store_alert_bump(struct db *db, Beebeebrain__V1__Alert *a, const char *message, bbb_status *st);
/* status resolved, resolved_at = now; updates *a to match. */
int store_alert_resolve(struct db *db, Beebeebrain__V1__Alert *a, bbb_status *st);
/* The same, by an operator: resolved_by = who, resolve_note = note (free
 * text, redacted). *a keeps pointers to who and note. */
int store_alert_resolve_by(struct db *db, Beebeebrain__V1__Alert *a, const char *who, const char *note, bbb_status *st);
/* acked_at = now, acked_by = who, ack_note = note; the status is left
 * alone (an acknowledged alert stays open). *a keeps pointers to who, note. */
int store_alert_ack(struct db *db, Beebeebrain__V1__Alert *a, const char *who, const char *note, bbb_status *st);
/* The alert with this id, or NOT_FOUND ALERT_NOT_FOUND. */
int store_alert_get(struct db *db, int64_t id, struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st);

/* What ListAlerts filters on; 0 / NULL / "" is "any". */
struct store_alert_filter {
	int af_status; /* Beebeebrain__V1__AlertStatus */
	const char *af_code;
	int64_t af_project_id;
};
/* Alerts below before_id (0: from the newest), newest first: at most `limit`
 * and one page of bytes (store_collect); *more when rows were left out. */
int store_alert_list(struct db *db, const struct store_alert_filter *f, int64_t before_id, int limit, struct arena *a,
		     Beebeebrain__V1__Alert ***out, size_t *n, int *more, bbb_status *st);
/* Open alerts, newest first, at most `limit`. */
int store_alert_list_open(struct db *db, int limit, struct arena *a, Beebeebrain__V1__Alert ***out, size_t *n,
			  bbb_status *st);
/* How many alerts are open (acknowledged ones included), and how many of
 * them nobody acknowledged. */
int store_alert_count_open(struct db *db, int64_t *n, int64_t *unacked, bbb_status *st);
/* The newest alert of a code, open or resolved: 1 and *out set, 0 when the
 * code was never raised, -1 on error. */
int store_alert_latest_of_code(struct db *db, const char *code, struct arena *a, Beebeebrain__V1__Alert **out,
			       bbb_status *st);

#endif
