/*
 * EventService: Replay (the durable stream, read in one snapshot with the
 * head id), Publish (operator and agent events), StreamInfo, and the
 * operator's side of alerts: ListAlerts, AckAlert, ResolveAlert
 * (events/alerts.h; audited by svc_write like every mutating call).
 */
#include <jansson.h>
#include <string.h>

#include "beebeebrain/v1/event.pb-c.h"
#include "common/status.h"
#include "domain/validate.h"
#include "events/alerts.h"
#include "events/emit.h"
#include "rpc/dispatch.h"
#include "ops/task_ops.h"
#include "services/services.h"
#include "store/alert_store.h"
#include "store/event_store.h"
#include "store/project_store.h"
#include "store/inbox_store.h"
#include "store/store.h"
#include "store/state_store.h"

#define REPLAY_MAX 1000
#define SUBSCRIBE_MAX_EVENTS 1000000

/* The four types the original HTTP API let clients post (PublishRequest.legacy). */
static const char *const legacy_types[] = {"task.status.changed", "run.status.changed", "run.log", "alert.raised"};

static int legacy_type_ok(const char *type)
{
	for (size_t i = 0; i < sizeof(legacy_types) / sizeof(legacy_types[0]); i++)
		if (strcmp(type, legacy_types[i]) == 0)
			return 1;
	return 0;
}

/* One page of the replay: events after `after` up to the head, at most
 * `limit` and one page of bytes; `more` when the page stopped before the
 * head (the client continues with after_id = the last id it got). */
static int replay_read(struct rpc_call *call, const Beebeebrain__V1__ReplayRequest *req,
		       Beebeebrain__V1__ReplayResponse *resp, bbb_status *st)
{
	struct db *db = svc_reader(call);
	int64_t pruned = store_state_get(db, "events_pruned_through", 0), after = req->after_id;
	int limit = req->limit > 0 ? req->limit : REPLAY_MAX, more = 0;

	resp->head_id = store_event_head(db);
	if (req->last_n > 0) {
		/* The window of the last N is listed like any other range, so a
		 * reply cut short by size continues with after_id. */
		if (store_event_last_start(db, req->last_n, resp->head_id, req->type_prefix, req->project_id, &after,
					   st) != 0)
			return -1;
		limit = req->last_n;
	} else if (after < pruned) {
		return status_fail(st, "EVENTS_PRUNED",
				   "events up to id %lld were removed by retention; replay after %lld or use last_n",
				   (long long)pruned, (long long)pruned);
	}
	if (after >= resp->head_id)
		return 0;
	/* Only what was committed when the head was read: one consistent view. */
	if (store_event_list(db, after, resp->head_id, limit, req->type_prefix, req->project_id, call->c_arena,
			     &resp->events, &resp->n_events, &more, st) != 0)
		return -1;
	resp->more = more;
	return 0;
}

static int replay(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ReplayRequest *req = (const void *)in;
	struct db *db = svc_reader(call);
	int rc;

	if (req->after_id < 0)
		status_violation(st, "after_id", "must be >= 0");
	if (req->last_n != 0)
		validate_range(st, "last_n", req->last_n, 1, REPLAY_MAX);
	if (req->last_n != 0 && req->after_id != 0)
		status_violation(st, "last_n", "give after_id or last_n, not both");
	if (req->limit != 0)
		validate_range(st, "limit", req->limit, 1, REPLAY_MAX);
	validate_id(st, "project_id", req->project_id, 0);
	if (validate_text(st, "type_prefix", req->type_prefix, 0, 64) != 0 || st->code != BBB_OK)
		return -1;
	/* A read transaction: the head and the rows come from one snapshot. */
	store_snapshot_begin(db);
	rc = replay_read(call, req, (void *)out, st);
	store_snapshot_end(db);
	return rc;
}

struct publish_write {
	struct emit_custom pw_custom;
	const char *pw_trace_id;
	struct arena *pw_arena;
	Beebeebrain__V1__Event *pw_event;
};

static int publish_write(struct db *db, void *arg, bbb_status *st)
{
	struct publish_write *pw = arg;
	Beebeebrain__V1__Project *p = NULL;

	if (pw->pw_custom.ec_legacy && pw->pw_custom.ec_project_id != 0 &&
	    store_project_get(db, pw->pw_custom.ec_project_id, pw->pw_arena, &p, st) != 0)
		return -1;
	return emit_custom(db, pw->pw_trace_id, &pw->pw_custom, pw->pw_arena, &pw->pw_event, st);
}

static int publish(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__PublishRequest *req = (const void *)in;
	Beebeebrain__V1__PublishResponse *resp = (void *)out;
	struct publish_write pw = {
		.pw_custom =
			{
				.ec_type = req->event_type,
				.ec_project_id = req->project_id,
				.ec_task_id = req->task_id,
				.ec_run_id = req->run_id,
				.ec_actor = req->actor,
				.ec_message = req->message,
				.ec_data_json = req->data_json,
			},
		.pw_trace_id = req->trace_id[0] != '\0' ? req->trace_id : call->c_trace_id,
		.pw_arena = call->c_arena,
		.pw_custom.ec_legacy = req->legacy,
	};

	if (req->legacy && !legacy_type_ok(req->event_type))
		status_violation(st, "event_type",
				 "must be task.status.changed, run.status.changed, run.log or alert.raised");
	else if (!req->legacy && !emit_custom_type_ok(req->event_type))
		status_violation(st, "event_type",
				 "must be operator.<name> or agent.<name> ([a-z0-9_.], at most 64 characters)");
	if (req->trace_id[0] != '\0' && !rpc_trace_id_valid(req->trace_id))
		status_violation(st, "trace_id", "must be at most 64 characters of [A-Za-z0-9._:-]");
	validate_id(st, "project_id", req->project_id, 0);
	validate_id(st, "task_id", req->task_id, 0);
	validate_id(st, "run_id", req->run_id, 0);
	validate_text(st, "actor", req->actor, 0, 120);
	validate_text(st, "message", req->message, 0, 4000);
	if (strlen(req->data_json) > 65536) {
		status_violation(st, "data_json", "must be at most 64 KiB");
	} else if (req->data_json[0] != '\0') {
		json_t *j = json_loads(req->data_json, JSON_DECODE_ANY, NULL);
		if (j == NULL)
			status_violation(st, "data_json", "must be a JSON document");
		json_decref(j);
	}
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, publish_write, &pw, st) != 0)
		return -1;
	resp->event = pw.pw_event;
	return 0;
}

static int stream_info(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	Beebeebrain__V1__StreamInfoResponse *resp = (void *)out;
	struct service_env *env = svc_env(call);
	struct db *db = svc_reader(call);

	(void)in;
	(void)st;
	resp->n_pub_urls = env->se_n_event_urls;
	resp->pub_urls = (char **)env->se_event_urls;
	store_snapshot_begin(db);
	resp->head_id = store_event_head(db);
	resp->oldest_id = store_event_oldest(db);
	resp->pruned_through_id = store_state_get(db, "events_pruned_through", 0);
	store_snapshot_end(db);
	resp->retention_ms = env->se_retention_ms;
	resp->heartbeat_interval_ms = env->se_heartbeat_ms;
	return 0;
}

static int list_alerts(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ListAlertsRequest *req = (const void *)in;
	Beebeebrain__V1__ListAlertsResponse *resp = (void *)out;
	struct store_alert_filter f = {
		.af_status = (int)req->status, .af_code = req->code, .af_project_id = req->project_id};
	int64_t before;
	int limit, more;
	char token[32];

	validate_enum(st, "status", &beebeebrain__v1__alert_status__descriptor, (int)req->status, 1);
	validate_text(st, "code", req->code, 0, 64);
	validate_id(st, "project_id", req->project_id, 0);
	/* Newest first: the token names the last id seen, the next page starts below it. */
	if (paging_parse(st, req->page_token, req->limit, 50, 100, &before, &limit) != 0 || st->code != BBB_OK)
		return -1;
	if (store_alert_list(svc_reader(call), &f, before, limit, call->c_arena, &resp->alerts, &resp->n_alerts, &more,
			     st) != 0)
		return -1;
	if (more) {
		paging_token(resp->alerts[resp->n_alerts - 1]->id, token, sizeof(token));
		resp->next_page_token = arena_strdup(call->c_arena, token);
	}
	return 0;
}

/* AckAlert and ResolveAlert: one alert by id, on an operator's word. */
struct alert_write {
	const char *aw_actor;
	const char *aw_note;
	int64_t aw_alert_id;
	int aw_resolve;
	struct rpc_call *aw_call;
	Beebeebrain__V1__Alert *aw_alert;
};

static int alert_write(struct db *db, void *arg, bbb_status *st)
{
	struct alert_write *aw = arg;
	struct rpc_call *call = aw->aw_call;

	if (aw->aw_resolve) {
		struct taskop_ctx c = {
			.o_db = db, .o_arena = call->c_arena, .o_trace_id = call->c_trace_id, .o_actor = aw->aw_actor};
		Beebeebrain__V1__InboxItem *it = NULL;

		if (alert_resolve_by(db, aw->aw_alert_id, aw->aw_actor, aw->aw_note, call->c_trace_id, call->c_arena,
				     &aw->aw_alert, st) != 0 ||
		    store_inbox_open_for(db, BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_INCIDENT,
					 aw->aw_alert_id, call->c_arena, &it, st) != 0)
			return -1;
		/* Its incident item closes with it: nothing is left paging for a
		 * cause the operator says is gone. */
		return it != NULL ? taskop_inbox_close(&c, it, aw->aw_actor, "", st) : 0;
	}
	return alert_ack(db, aw->aw_alert_id, aw->aw_actor, aw->aw_note, call->c_trace_id, call->c_arena, &aw->aw_alert,
			 st);
}

static int alert_command(struct rpc_call *call, int64_t alert_id, const char *actor, const char *note, int resolve,
			 Beebeebrain__V1__Alert **out, bbb_status *st)
{
	struct alert_write aw = {
		.aw_actor = actor[0] != '\0' ? actor : "operator",
		.aw_note = note,
		.aw_alert_id = alert_id,
		.aw_resolve = resolve,
		.aw_call = call,
	};

	validate_id(st, "alert_id", alert_id, 1);
	validate_text(st, "actor", actor, 0, 120);
	validate_text(st, "note", note, 0, 2000);
	if (st->code != BBB_OK)
		return -1;
	if (svc_write(call, alert_write, &aw, st) != 0)
		return -1;
	*out = aw.aw_alert;
	return 0;
}

static int ack_alert(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__AckAlertRequest *req = (const void *)in;
	Beebeebrain__V1__AckAlertResponse *resp = (void *)out;

	return alert_command(call, req->alert_id, req->actor, req->note, 0, &resp->alert, st);
}

static int resolve_alert(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__ResolveAlertRequest *req = (const void *)in;
	Beebeebrain__V1__ResolveAlertResponse *resp = (void *)out;

	return alert_command(call, req->alert_id, req->actor, req->note, 1, &resp->alert, st);
}

int svc_events_read(void *worker, int64_t after_id, int limit, struct arena *a, Beebeebrain__V1__Event ***out,
		    size_t *n, int64_t *head, bbb_status *st)
{
	struct db *db = ((struct service_worker *)worker)->sw_reader;
	int more = 0, rc = 0;

	*n = 0;
	*out = NULL;
	store_snapshot_begin(db);
	*head = store_event_head(db);
	if (after_id < *head)
		rc = store_event_list(db, after_id, *head, limit, "", 0, a, out, n, &more, st);
	store_snapshot_end(db);
	return rc;
}

int svc_events_start(void *worker, int n, const char *type_prefix, int64_t project_id, int64_t *after_id,
		     bbb_status *st)
{
	struct db *db = ((struct service_worker *)worker)->sw_reader;
	int rc;

	store_snapshot_begin(db);
	rc = store_event_last_start(db, n, store_event_head(db), type_prefix, project_id, after_id, st);
	store_snapshot_end(db);
	return rc;
}

/* Over HTTP only (RPC_STREAMS): checks the request and answers the head id;
 * the HTTP layer then streams (src/http/stream.h). */
static int subscribe(struct rpc_call *call, const ProtobufCMessage *in, ProtobufCMessage *out, bbb_status *st)
{
	const Beebeebrain__V1__SubscribeRequest *req = (const void *)in;
	Beebeebrain__V1__SubscribeResponse *resp = (void *)out;

	if (req->after_id < 0)
		status_violation(st, "after_id", "must be >= 0");
	if (req->last_n != 0)
		validate_range(st, "last_n", req->last_n, 1, REPLAY_MAX);
	if (req->max_events != 0)
		validate_range(st, "max_events", req->max_events, 1, SUBSCRIBE_MAX_EVENTS);
	validate_id(st, "project_id", req->project_id, 0);
	if (validate_text(st, "type_prefix", req->type_prefix, 0, 64) != 0 || st->code != BBB_OK)
		return -1;
	resp->head_id = store_event_head(svc_reader(call));
	return 0;
}

static const struct rpc_method event_methods[] = {
	{"Replay", replay, RPC_READ},          {"Publish", publish, RPC_MUTATES},
	{"StreamInfo", stream_info, RPC_READ}, {"ListAlerts", list_alerts, RPC_READ},
	{"AckAlert", ack_alert, RPC_MUTATES},  {"ResolveAlert", resolve_alert, RPC_MUTATES},
	{"Subscribe", subscribe, RPC_STREAMS},
};

const struct rpc_service event_service = {
	.s_desc = &beebeebrain__v1__event_service__descriptor,
	.s_methods = event_methods,
	.s_n_methods = sizeof(event_methods) / sizeof(event_methods[0]),
};
