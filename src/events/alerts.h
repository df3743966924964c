/*
 * Alerts: the one internal API to raise and resolve them (docs/events.md, Alerts).
 * Both run inside a write transaction (from a store_write function), so the
 * alert row and its event commit together with the change that caused them.
 *
 * Raising with a dedup key that has an open alert only bumps its counter
 * (and last_raised_at); no new event is written. Raising a new key inserts the
 * alert and writes alert.raised. Resolving an open key writes alert.resolved;
 * resolving a key with no open alert does nothing.
 */
#ifndef BBB_ALERTS_H
#define BBB_ALERTS_H

#include "store/db.h"
#include <stdint.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

struct alert_spec {
	const char *as_code; /* e.g. "LLM_PROVIDER_UNAVAILABLE" */
	Beebeebrain__V1__Severity as_severity;
	const char *as_dedup_key; /* e.g. "LLM_PROVIDER_UNAVAILABLE:anthropic:https://..." */
	const char *as_title;
	const char *as_message; /* redacted before it is stored */
	int64_t as_project_id;
	int64_t as_task_id;
	int64_t as_run_id;
	const char *as_trace_id;
};

enum alert_outcome { ALERT_RAISED, ALERT_BUMPED, ALERT_RESOLVED, ALERT_NOT_OPEN };

/* Raises or bumps. *outcome (may be NULL) tells which; *alert_id gets the id. */
int alert_raise(struct db *db, const struct alert_spec *spec, int64_t *alert_id, enum alert_outcome *outcome,
		bbb_status *st);
/* Resolves the open alert of dedup_key, if any. */
int alert_resolve(struct db *db, const char *dedup_key, const char *trace_id, enum alert_outcome *outcome,
		  bbb_status *st);

/*
 * The operator's side (EventService AckAlert, ResolveAlert), by alert id.
 * Both refuse an alert that is not open (FAILED_PRECONDITION
 * ALERT_ALREADY_RESOLVED) and a missing one (ALERT_NOT_FOUND); *out gets
 * the alert as stored afterwards, from a.
 *
 * alert_ack records who acknowledged it and writes alert.acknowledged; the
 * alert stays open, and a later raise of its key still only bumps it (the
 * acknowledgement stays). Acknowledging an acknowledged alert changes
 * nothing and writes no event. alert_resolve_by resolves it now, recording
 * who and why, and writes alert.resolved; a cause still present raises a new
 * alert at its next detection.
 */
int alert_ack(struct db *db, int64_t alert_id, const char *actor, const char *note, const char *trace_id,
	      struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st);
int alert_resolve_by(struct db *db, int64_t alert_id, const char *actor, const char *note, const char *trace_id,
		     struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st);

#endif
