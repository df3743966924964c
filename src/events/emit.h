/*
 * Event emitters: one function per stored event type (SPEC section 5). Each
 * fills its typed payload and the event's columns (project, task, run,
 * trace) from plain values, and appends the event on db inside the caller's
 * write transaction, so the event commits or rolls back with the change it
 * describes. Nothing else in the tree builds an Event to store: a type's
 * columns and payload are decided here, once.
 *
 * Redaction: store_event_append redacts every string of every payload it
 * stores (common/redact.h). That is the one place that guarantees it, for
 * every type, including fields added later; an emitter does not redact again.
 * An emitter that bounds a text (emit_run_log) redacts before it cuts, so that
 * a cut cannot leave half a secret that the store would no longer recognize.
 *
 * Every emitter takes the write connection and the trace id the event
 * carries (NULL is ""), and returns 0, or -1 with *st: a store error, after
 * which the caller's transaction must roll back. None keeps a pointer to its
 * arguments.
 */
#ifndef BBB_EMIT_H
#define BBB_EMIT_H

#include <sqlite3.h>
#include <stdint.h>

#include "beebeebrain/v1/log.pb-c.h"
#include "common/arena.h"
#include <beebeebrain/status.h>

/* Bytes of a run.log message, at most (after redaction). */
#define EMIT_LOG_MESSAGE_MAX 16384

/* run.log, payload RunLog, and the run_logs row that goes with it. l names
 * project, task, run, level, source and message; the message is redacted and
 * cut to EMIT_LOG_MESSAGE_MAX bytes on a character boundary (the copy comes
 * from a). Sets l->message to the stored text, l->trace_id, l->event_id,
 * l->created_at_ms (the event's) and l->id. */
int emit_run_log(sqlite3 *db, const char *trace_id, struct arena *a, Beebeebrain__V1__LogLine *l, bbb_status *st);

/* What one provider call cost its run (usage.recorded). */
struct emit_usage {
	int64_t eu_project_id;
	int64_t eu_task_id;
	int64_t eu_run_id;
	const char *eu_provider;
	const char *eu_model;
	int64_t eu_token_in;
	int64_t eu_token_out;
	int64_t eu_cost_usd_micros;
};

/* usage.recorded, payload UsageRecorded. */
int emit_usage_recorded(sqlite3 *db, const char *trace_id, const struct emit_usage *u, bbb_status *st);

#endif
