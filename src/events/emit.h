/*
 * Event emitters: one function per stored event type (docs/events.md). Each
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

#include "store/db.h"
#include <stdint.h>

#include "beebeebrain/v1/common.pb-c.h"
#include "beebeebrain/v1/events.pb-c.h"
#include "beebeebrain/v1/log.pb-c.h"
#include "common/arena.h"
#include "domain/task_state.h"
#include "events/audit.h"
#include <beebeebrain/status.h>

/* Bytes of a run.log message, at most (after redaction). */
#define EMIT_LOG_MESSAGE_MAX 16384

/* task.status.changed, payload TaskStatusChanged: task t (its project,
 * id and version) moved from `from` to `to` on actor's word. Creation comes
 * from TASK_STATUS_UNSPECIFIED, deletion goes to it. */
int emit_task_status_changed(struct db *db, const char *trace_id, const Beebeebrain__V1__Task *t, task_status from,
			     task_status to, const char *actor, bbb_status *st);

/* task.intervention.audit, payload TaskInterventionAudit: operator command
 * cmd on task task_id, applied when refusal->code is BBB_OK, else refused
 * for refusal->reason. t is the task after the command (NULL when it does
 * not exist: no project, to_status unspecified); from its status before. */
int emit_task_intervention_audit(struct db *db, const char *trace_id, task_command cmd, int64_t task_id,
				 const Beebeebrain__V1__Task *t, task_status from, const char *actor,
				 const bbb_status *refusal, bbb_status *st);

/* run.status.changed, payload RunStatusChanged: run r (now in its
 * run_status, with its error_code and next_retry_at) came from `from`; a
 * queued run comes from RUN_STATUS_UNSPECIFIED. */
int emit_run_status_changed(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__TaskRun *r,
			    run_status from, bbb_status *st);

/* run.log, payload RunLog, and the run_logs row that goes with it. l names
 * project, task, run, level, source and message; the message is redacted and
 * cut to EMIT_LOG_MESSAGE_MAX bytes on a character boundary (the copy comes
 * from a). Sets l->message to the stored text, l->trace_id, l->event_id,
 * l->created_at_ms (the event's) and l->id. */
int emit_run_log(struct db *db, const char *trace_id, struct arena *a, Beebeebrain__V1__LogLine *l, bbb_status *st);

/* What one provider call cost its run (usage.recorded). */
struct emit_usage {
	int64_t eu_project_id;
	int64_t eu_task_id;
	int64_t eu_run_id;
	const char *eu_provider;
	const char *eu_model;
	int64_t eu_token_in;
	int64_t eu_token_out;
	int64_t eu_cache_read_tokens; /* of eu_token_in */
	int64_t eu_cache_write_tokens; /* of eu_token_in */
	int64_t eu_cost_usd_micros; /* written as 0 when eu_cost_unknown */
	int eu_cost_unknown; /* the model has no price */
};

/* usage.recorded, payload UsageRecorded. */
int emit_usage_recorded(struct db *db, const char *trace_id, const struct emit_usage *u, bbb_status *st);

/* alert.raised, alert.acknowledged and alert.resolved, payload Alert: the
 * alert row a as stored (events/alerts.c raises, acknowledges and resolves;
 * call them from there). */
int emit_alert_raised(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__Alert *a,
		      bbb_status *st);
int emit_alert_acknowledged(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__Alert *a,
			    bbb_status *st);
int emit_alert_resolved(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__Alert *a,
			bbb_status *st);

/* inbox.item.created and inbox.item.closed, payload InboxItemEvent: the item
 * as stored. An item about a task carries its task id, one about a run its
 * run id. */
int emit_inbox_item_created(struct db *db, const char *trace_id, const Beebeebrain__V1__InboxItem *it, bbb_status *st);
int emit_inbox_item_closed(struct db *db, const char *trace_id, const Beebeebrain__V1__InboxItem *it, bbb_status *st);

/* user.input.submitted, payload UserInputSubmitted: the user_input an
 * operator gave when closing item it (task id when the item is a task's). */
int emit_user_input_submitted(struct db *db, const char *trace_id, const Beebeebrain__V1__InboxItem *it,
			      bbb_status *st);

/* One ToolService call as its audit tells it (tool.command.audit). */
struct emit_tool_audit {
	int64_t eta_project_id; /* 0 when the task does not exist */
	int64_t eta_task_id;
	int64_t eta_run_id;
	const char *eta_tool; /* "finish_task", "block_task", "request_input" */
	const char *eta_key; /* the idempotency key */
	int eta_hit; /* the key was seen before: the first reply was returned */
	const bbb_status *eta_refusal; /* code BBB_OK: applied; else rejected for its reason */
	const char *eta_note; /* the agent's text: BlockTask reason, RequestInput title */
};

/* tool.command.audit, payload ToolCommandAudit. */
int emit_tool_command_audit(struct db *db, const char *trace_id, const struct emit_tool_audit *ta, bbb_status *st);

/* security.audit.allowed and security.audit.denied, payload SecurityAudit
 * (the trace is the entry's). */
int emit_security_audit_allowed(struct db *db, const struct audit_entry *e, bbb_status *st);
int emit_security_audit_denied(struct db *db, const struct audit_entry *e, bbb_status *st);

/* An operator's or agent's own event (EventService/Publish). */
struct emit_custom {
	const char *ec_type; /* operator.<name> or agent.<name>, emit_custom_type_ok */
	int64_t ec_project_id;
	int64_t ec_task_id;
	int64_t ec_run_id;
	const char *ec_actor;
	const char *ec_message;
	const char *ec_data_json; /* "" or a JSON document (the caller checks) */
	/* 1: ec_type is one of the original HTTP API's four postable types
	 * (the caller checks), stored as given with this CustomEvent payload. */
	int ec_legacy;
};

/* 1 when type may be published by a client: "operator." or "agent." and a
 * name of [a-z0-9_.], 64 bytes in all at most. No other type can be forged
 * with a custom payload. */
int emit_custom_type_ok(const char *type);
/* The custom event, payload CustomEvent. A type that is not
 * emit_custom_type_ok (and not ec_legacy) is refused (VALIDATION_ERROR) and nothing is written.
 * *out (may be NULL) gets the event as appended (id and time set; the
 * payload as given, not redacted), from a. */
int emit_custom(struct db *db, const char *trace_id, const struct emit_custom *c, struct arena *a,
		Beebeebrain__V1__Event **out, bbb_status *st);

#endif
