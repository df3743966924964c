/* Raise and resolve alerts with their events (see alerts.h). */
#include "events/alerts.h"

#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/utf8.h"
#include "events/emit.h"
#include "store/alert_store.h"

#define ALERT_MESSAGE_MAX 1023 /* bytes of an alert message */

int alert_raise(struct db *db, const struct alert_spec *spec, int64_t *alert_id, enum alert_outcome *outcome,
		bbb_status *st)
{
	Beebeebrain__V1__Alert *a = NULL;
	struct arena ar;
	char *message;
	int rc, found;

	arena_init(&ar);
	/* Redacted (again, by the store) before the cut, so no secret is left in half. */
	message = (char *)redact_text(&ar, spec->as_message != NULL ? spec->as_message : "");
	if (strlen(message) > ALERT_MESSAGE_MAX)
		message = arena_strndup(&ar, message, utf8_cut(message, ALERT_MESSAGE_MAX));
	found = store_alert_find_open(db, spec->as_dedup_key, &ar, &a, st);
	if (found == 0) {
		a = (void *)arena_message(&ar, &beebeebrain__v1__alert__descriptor);
		a->code = (char *)spec->as_code;
		a->severity = spec->as_severity;
		a->dedup_key = (char *)spec->as_dedup_key;
		a->title = (char *)spec->as_title;
		a->message = message;
		a->task_id = spec->as_task_id;
		a->run_id = spec->as_run_id;
		a->project_id = spec->as_project_id;
		/* 1: another server's transaction raised it since the look above
		 * (it committed while this insert waited on the unique index). */
		rc = store_alert_insert(db, a, st);
		if (rc == 1 && (found = store_alert_find_open(db, spec->as_dedup_key, &ar, &a, st)) == 0)
			found = status_fail(st, "INTERNAL_ERROR", "alert %s: resolved while it was raised again",
					    spec->as_dedup_key);
		else if (rc < 0)
			found = -1;
	}
	if (found < 0) {
		rc = -1;
	} else if (found) {
		rc = store_alert_bump(db, a, message, st);
		if (outcome != NULL)
			*outcome = ALERT_BUMPED;
	} else {
		rc = emit_alert_raised(db, spec->as_trace_id, spec->as_project_id, a, st);
		if (outcome != NULL)
			*outcome = ALERT_RAISED;
	}
	if (rc == 0 && alert_id != NULL)
		*alert_id = a->id;
	arena_reset(&ar);
	return rc;
}

int alert_resolve(struct db *db, const char *dedup_key, const char *trace_id, enum alert_outcome *outcome,
		  bbb_status *st)
{
	Beebeebrain__V1__Alert *a = NULL;
	struct arena ar;
	int rc = 0, found;

	arena_init(&ar);
	found = store_alert_find_open(db, dedup_key, &ar, &a, st);
	if (outcome != NULL)
		*outcome = found > 0 ? ALERT_RESOLVED : ALERT_NOT_OPEN;
	if (found < 0)
		rc = -1;
	else if (found > 0 && (rc = store_alert_resolve(db, a, st)) == 0)
		rc = emit_alert_resolved(db, trace_id, a->project_id, a, st);
	arena_reset(&ar);
	return rc;
}

int alert_ack(struct db *db, int64_t alert_id, const char *actor, const char *note, const char *trace_id,
	      struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st)
{
	Beebeebrain__V1__Alert *al;

	if (store_alert_get(db, alert_id, a, &al, st) != 0)
		return -1;
	if (al->status != BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN)
		return status_fail(st, "ALERT_ALREADY_RESOLVED", "alert %lld (%s) is already resolved",
				   (long long)al->id, al->code);
	if (al->acked_at_ms == 0) {
		if (store_alert_ack(db, al, actor, note, st) != 0 || store_alert_get(db, alert_id, a, &al, st) != 0 ||
		    emit_alert_acknowledged(db, trace_id, al->project_id, al, st) != 0)
			return -1;
	}
	*out = al;
	return 0;
}

int alert_resolve_by(struct db *db, int64_t alert_id, const char *actor, const char *note, const char *trace_id,
		     struct arena *a, Beebeebrain__V1__Alert **out, bbb_status *st)
{
	Beebeebrain__V1__Alert *al;

	if (store_alert_get(db, alert_id, a, &al, st) != 0)
		return -1;
	if (al->status != BEEBEEBRAIN__V1__ALERT_STATUS__ALERT_STATUS_OPEN)
		return status_fail(st, "ALERT_ALREADY_RESOLVED", "alert %lld (%s) is already resolved",
				   (long long)al->id, al->code);
	/* Read back: the reply and the event carry the stored (redacted) note. */
	if (store_alert_resolve_by(db, al, actor, note, st) != 0 || store_alert_get(db, alert_id, a, &al, st) != 0 ||
	    emit_alert_resolved(db, trace_id, al->project_id, al, st) != 0)
		return -1;
	*out = al;
	return 0;
}
