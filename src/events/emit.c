/* Event emitters: one function per event type (see emit.h). */
#include "events/emit.h"

#include <string.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/redact.h"
#include "common/status.h"
#include "common/utf8.h"
#include "store/event_store.h"
#include "store/log_store.h"

/* The columns every event has; the caller sets the payload. */
static Beebeebrain__V1__Event emit_event(const char *type, const char *trace_id, int64_t project_id, int64_t task_id,
					 int64_t run_id)
{
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;

	ev.event_type = (char *)type;
	ev.trace_id = (char *)(trace_id != NULL ? trace_id : "");
	ev.project_id = project_id;
	ev.task_id = task_id;
	ev.run_id = run_id;
	return ev;
}

static const char *emit_str(const char *s)
{
	return s != NULL ? s : "";
}

int emit_run_log(struct db *db, const char *trace_id, struct arena *a, Beebeebrain__V1__LogLine *l, bbb_status *st)
{
	Beebeebrain__V1__Event ev = emit_event("run.log", trace_id, l->project_id, l->task_id, l->run_id);
	Beebeebrain__V1__RunLog body = BEEBEEBRAIN__V1__RUN_LOG__INIT;
	char *text = (char *)redact_text(a, emit_str(l->message));

	if (strlen(text) > EMIT_LOG_MESSAGE_MAX)
		text = arena_strndup(a, text, utf8_cut(text, EMIT_LOG_MESSAGE_MAX));
	body.run_id = l->run_id;
	body.level = l->level;
	body.message = text;
	body.source = l->source;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_LOG;
	ev.run_log = &body;
	if (store_event_append(db, &ev, st) != 0)
		return -1;
	l->message = text;
	l->trace_id = ev.trace_id;
	l->event_id = ev.id;
	l->created_at_ms = ev.created_at_ms;
	return store_log_insert(db, l, st);
}

int emit_usage_recorded(struct db *db, const char *trace_id, const struct emit_usage *u, bbb_status *st)
{
	Beebeebrain__V1__Event ev =
		emit_event("usage.recorded", trace_id, u->eu_project_id, u->eu_task_id, u->eu_run_id);
	Beebeebrain__V1__UsageRecorded body = BEEBEEBRAIN__V1__USAGE_RECORDED__INIT;

	body.run_id = u->eu_run_id;
	body.provider = (char *)u->eu_provider;
	body.model = (char *)u->eu_model;
	body.token_in = u->eu_token_in;
	body.token_out = u->eu_token_out;
	body.cache_read_tokens = u->eu_cache_read_tokens;
	body.cache_write_tokens = u->eu_cache_write_tokens;
	body.cost_unknown = u->eu_cost_unknown != 0;
	body.cost_usd_micros = u->eu_cost_unknown ? 0 : u->eu_cost_usd_micros;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_USAGE_RECORDED;
	ev.usage_recorded = &body;
	return store_event_append(db, &ev, st);
}

int emit_task_status_changed(struct db *db, const char *trace_id, const Beebeebrain__V1__Task *t, task_status from,
			     task_status to, const char *actor, bbb_status *st)
{
	Beebeebrain__V1__Event ev = emit_event("task.status.changed", trace_id, t->project_id, t->id, 0);
	Beebeebrain__V1__TaskStatusChanged body = BEEBEEBRAIN__V1__TASK_STATUS_CHANGED__INIT;

	body.task_id = t->id;
	body.from_status = from;
	body.to_status = to;
	body.actor = (char *)emit_str(actor);
	body.version = t->version;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_TASK_STATUS_CHANGED;
	ev.task_status_changed = &body;
	return store_event_append(db, &ev, st);
}

int emit_task_intervention_audit(struct db *db, const char *trace_id, task_command cmd, int64_t task_id,
				 const Beebeebrain__V1__Task *t, task_status from, const char *actor,
				 const bbb_status *refusal, bbb_status *st)
{
	Beebeebrain__V1__Event ev =
		emit_event("task.intervention.audit", trace_id, t != NULL ? t->project_id : 0, task_id, 0);
	Beebeebrain__V1__TaskInterventionAudit body = BEEBEEBRAIN__V1__TASK_INTERVENTION_AUDIT__INIT;

	body.task_id = task_id;
	body.command = cmd;
	body.actor = (char *)emit_str(actor);
	body.applied = refusal->code == BBB_OK;
	body.reason = (char *)refusal->reason;
	body.from_status = from;
	body.to_status = t != NULL ? t->status : BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_UNSPECIFIED;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_TASK_INTERVENTION_AUDIT;
	ev.task_intervention_audit = &body;
	return store_event_append(db, &ev, st);
}

int emit_run_status_changed(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__TaskRun *r,
			    run_status from, bbb_status *st)
{
	Beebeebrain__V1__Event ev = emit_event("run.status.changed", trace_id, project_id, r->task_id, r->id);
	Beebeebrain__V1__RunStatusChanged body = BEEBEEBRAIN__V1__RUN_STATUS_CHANGED__INIT;

	body.run_id = r->id;
	body.task_id = r->task_id;
	body.from_status = from;
	body.to_status = r->run_status;
	body.error_code = r->error_code != NULL ? r->error_code : "";
	body.next_retry_at_ms = r->next_retry_at_ms;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_STATUS_CHANGED;
	ev.run_status_changed = &body;
	return store_event_append(db, &ev, st);
}

static int emit_alert(struct db *db, const char *type, const char *trace_id, int64_t project_id,
		      const Beebeebrain__V1__Alert *a, bbb_status *st)
{
	Beebeebrain__V1__Event ev = emit_event(type, trace_id, project_id, a->task_id, a->run_id);

	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_ALERT;
	ev.alert = (Beebeebrain__V1__Alert *)a;
	return store_event_append(db, &ev, st);
}

int emit_alert_raised(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__Alert *a,
		      bbb_status *st)
{
	return emit_alert(db, "alert.raised", trace_id, project_id, a, st);
}

int emit_alert_acknowledged(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__Alert *a,
			    bbb_status *st)
{
	return emit_alert(db, "alert.acknowledged", trace_id, project_id, a, st);
}

int emit_alert_resolved(struct db *db, const char *trace_id, int64_t project_id, const Beebeebrain__V1__Alert *a,
			bbb_status *st)
{
	return emit_alert(db, "alert.resolved", trace_id, project_id, a, st);
}

static int emit_inbox_item(struct db *db, const char *type, const char *trace_id, const Beebeebrain__V1__InboxItem *it,
			   bbb_status *st)
{
	int64_t task_id = it->source_type == BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK ? it->source_id : 0;
	int64_t run_id = it->source_type == BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_RUN ? it->source_id : 0;
	Beebeebrain__V1__Event ev = emit_event(type, trace_id, it->project_id, task_id, run_id);
	Beebeebrain__V1__InboxItemEvent body = BEEBEEBRAIN__V1__INBOX_ITEM_EVENT__INIT;

	body.item = (Beebeebrain__V1__InboxItem *)it;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_INBOX_ITEM;
	ev.inbox_item = &body;
	return store_event_append(db, &ev, st);
}

int emit_inbox_item_created(struct db *db, const char *trace_id, const Beebeebrain__V1__InboxItem *it, bbb_status *st)
{
	return emit_inbox_item(db, "inbox.item.created", trace_id, it, st);
}

int emit_inbox_item_closed(struct db *db, const char *trace_id, const Beebeebrain__V1__InboxItem *it, bbb_status *st)
{
	return emit_inbox_item(db, "inbox.item.closed", trace_id, it, st);
}

int emit_user_input_submitted(struct db *db, const char *trace_id, const Beebeebrain__V1__InboxItem *it, bbb_status *st)
{
	int64_t task_id = it->source_type == BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_TASK ? it->source_id : 0;
	Beebeebrain__V1__Event ev = emit_event("user.input.submitted", trace_id, it->project_id, task_id, 0);
	Beebeebrain__V1__UserInputSubmitted body = BEEBEEBRAIN__V1__USER_INPUT_SUBMITTED__INIT;

	body.item_id = it->id;
	body.task_id = task_id;
	body.user_input = it->user_input != NULL ? it->user_input : "";
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_USER_INPUT_SUBMITTED;
	ev.user_input_submitted = &body;
	return store_event_append(db, &ev, st);
}

int emit_tool_command_audit(struct db *db, const char *trace_id, const struct emit_tool_audit *ta, bbb_status *st)
{
	Beebeebrain__V1__Event ev =
		emit_event("tool.command.audit", trace_id, ta->eta_project_id, ta->eta_task_id, ta->eta_run_id);
	Beebeebrain__V1__ToolCommandAudit body = BEEBEEBRAIN__V1__TOOL_COMMAND_AUDIT__INIT;
	int applied = ta->eta_refusal == NULL || ta->eta_refusal->code == BBB_OK;

	body.tool = (char *)emit_str(ta->eta_tool);
	body.task_id = ta->eta_task_id;
	body.idempotency_key = (char *)emit_str(ta->eta_key);
	body.idempotency_hit = ta->eta_hit;
	body.outcome = applied ? "applied" : "rejected";
	body.reason = applied ? "" : (char *)ta->eta_refusal->reason;
	body.note = (char *)emit_str(ta->eta_note);
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_TOOL_COMMAND_AUDIT;
	ev.tool_command_audit = &body;
	return store_event_append(db, &ev, st);
}

static int emit_security_audit(struct db *db, const char *type, const struct audit_entry *e, bbb_status *st)
{
	Beebeebrain__V1__Event ev = emit_event(type, e->ae_trace_id, 0, 0, 0);
	Beebeebrain__V1__SecurityAudit body = BEEBEEBRAIN__V1__SECURITY_AUDIT__INIT;

	body.actor = (char *)emit_str(e->ae_actor);
	body.action = (char *)emit_str(e->ae_action);
	body.resource = (char *)emit_str(e->ae_resource);
	body.reason = (char *)emit_str(e->ae_reason);
	body.peer = (char *)emit_str(e->ae_peer);
	body.count = e->ae_count;
	body.first_at_ms = e->ae_first_at_ms;
	body.last_at_ms = e->ae_last_at_ms;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_SECURITY_AUDIT;
	ev.security_audit = &body;
	return store_event_append(db, &ev, st);
}

int emit_security_audit_allowed(struct db *db, const struct audit_entry *e, bbb_status *st)
{
	return emit_security_audit(db, "security.audit.allowed", e, st);
}

int emit_security_audit_denied(struct db *db, const struct audit_entry *e, bbb_status *st)
{
	return emit_security_audit(db, "security.audit.denied", e, st);
}

int emit_custom_type_ok(const char *type)
{
	size_t n, prefix;

	if (type == NULL)
		return 0;
	n = strlen(type);
	if (strncmp(type, "operator.", 9) == 0)
		prefix = 9;
	else if (strncmp(type, "agent.", 6) == 0)
		prefix = 6;
	else
		return 0;
	if (n == prefix || n > 64)
		return 0;
	return strspn(type, "abcdefghijklmnopqrstuvwxyz0123456789_.") == n;
}

int emit_custom(struct db *db, const char *trace_id, const struct emit_custom *c, struct arena *a,
		Beebeebrain__V1__Event **out, bbb_status *st)
{
	Beebeebrain__V1__Event *ev = (void *)arena_message(a, &beebeebrain__v1__event__descriptor);
	Beebeebrain__V1__CustomEvent *body = (void *)arena_message(a, &beebeebrain__v1__custom_event__descriptor);

	if (!c->ec_legacy && !emit_custom_type_ok(c->ec_type))
		return status_fail(st, "VALIDATION_ERROR", "a published event type is operator.<name> or agent.<name>");
	*ev = emit_event(c->ec_type, trace_id, c->ec_project_id, c->ec_task_id, c->ec_run_id);
	body->actor = (char *)emit_str(c->ec_actor);
	body->message = (char *)emit_str(c->ec_message);
	body->data_json = (char *)emit_str(c->ec_data_json);
	ev->payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_CUSTOM;
	ev->custom = body;
	if (store_event_append(db, ev, st) != 0)
		return -1;
	if (out != NULL)
		*out = ev;
	return 0;
}
