/* Event emitters: one function per event type (see emit.h). */
#include "events/emit.h"

#include <string.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/redact.h"
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

int emit_run_log(sqlite3 *db, const char *trace_id, struct arena *a, Beebeebrain__V1__LogLine *l, bbb_status *st)
{
	Beebeebrain__V1__Event ev = emit_event("run.log", trace_id, l->project_id, l->task_id, l->run_id);
	Beebeebrain__V1__RunLog body = BEEBEEBRAIN__V1__RUN_LOG__INIT;
	char *text = (char *)redact_text(a, l->message != NULL ? l->message : "");

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

int emit_usage_recorded(sqlite3 *db, const char *trace_id, const struct emit_usage *u, bbb_status *st)
{
	Beebeebrain__V1__Event ev =
		emit_event("usage.recorded", trace_id, u->eu_project_id, u->eu_task_id, u->eu_run_id);
	Beebeebrain__V1__UsageRecorded body = BEEBEEBRAIN__V1__USAGE_RECORDED__INIT;

	body.run_id = u->eu_run_id;
	body.provider = (char *)u->eu_provider;
	body.model = (char *)u->eu_model;
	body.token_in = u->eu_token_in;
	body.token_out = u->eu_token_out;
	body.cost_usd_micros = u->eu_cost_usd_micros;
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_USAGE_RECORDED;
	ev.usage_recorded = &body;
	return store_event_append(db, &ev, st);
}
