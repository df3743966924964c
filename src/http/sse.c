/* The original HTTP API's event routes without the I/O (see sse.h). */
#include "http/sse.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/pbjson.h"
#include "common/xalloc.h"

#define SSE_BATCH_DEFAULT 100
#define SSE_POLL_DEFAULT_MS 1000
#define SSE_HEARTBEAT_DEFAULT_S 15

/* One integer query parameter: its name, range and where it goes. */
struct sse_int_param {
	const char *ip_field; /* "query.max_events" */
	size_t ip_offset; /* of its value in struct sse_query */
	int64_t ip_lo, ip_hi;
};

static const struct sse_int_param sse_int_params[] = {
	{"query.project_id", offsetof(struct sse_query, q_project_id), 1, INT64_MAX},
	{"query.last_event_id", offsetof(struct sse_query, q_last_event_id), 1, INT64_MAX},
	{"query.replay_last", offsetof(struct sse_query, q_replay_last), 0, 500},
	{"query.max_events", offsetof(struct sse_query, q_max_events), 1, 1000},
	{"query.batch_size", offsetof(struct sse_query, q_batch_size), 1, 200},
	{"query.poll_interval_ms", offsetof(struct sse_query, q_poll_interval_ms), 100, 5000},
	{"query.heartbeat_seconds", offsetof(struct sse_query, q_heartbeat_seconds), 5, 60},
};
#define SSE_N_INT_PARAMS (sizeof(sse_int_params) / sizeof(sse_int_params[0]))

/* A decimal integer with an optional sign and nothing else. */
static int sse_parse_int(const char *s, int64_t *v)
{
	char *end;

	if (s == NULL || *s == '\0' || *s == ' ')
		return -1;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*v = n;
	return 0;
}

char *sse_error_json(const char *code, const char *message, const struct sse_issue *issues, size_t n)
{
	json_t *list = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(
			list, json_pack("{s:s, s:s}", "field", issues[i].i_field, "message", issues[i].i_message));
	json_t *root = json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message", message, "issues", list);
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		abort(); /* only out of memory: as xmalloc does */
	return text;
}

/* Checks every integer parameter into values[]; the issues in iss, their
 * messages in msgs (the caller's: the listeners' threads parse at once). */
static size_t sse_check_ints(const struct sse_query *q, int64_t *values, int *given, struct sse_issue *iss,
			     char (*msgs)[96])
{
	size_t n = 0;

	for (size_t i = 0; i < SSE_N_INT_PARAMS; i++) {
		const struct sse_int_param *ip = &sse_int_params[i];
		const char *raw = *(const char *const *)((const char *)q + ip->ip_offset);

		given[i] = raw != NULL;
		values[i] = 0;
		if (raw == NULL)
			continue;
		if (sse_parse_int(raw, &values[i]) != 0) {
			iss[n++] = (struct sse_issue){ip->ip_field, "Input should be a valid integer"};
			continue;
		}
		if (values[i] < ip->ip_lo) {
			snprintf(msgs[i], sizeof(msgs[i]), "Input should be greater than or equal to %" PRId64,
				 ip->ip_lo);
			iss[n++] = (struct sse_issue){ip->ip_field, msgs[i]};
		} else if (values[i] > ip->ip_hi) {
			snprintf(msgs[i], sizeof(msgs[i]), "Input should be less than or equal to %" PRId64, ip->ip_hi);
			iss[n++] = (struct sse_issue){ip->ip_field, msgs[i]};
		}
	}
	return n;
}

int sse_parse(const struct sse_query *q, struct sse_params *p, char **err)
{
	struct sse_issue iss[SSE_N_INT_PARAMS];
	char msgs[SSE_N_INT_PARAMS][96];
	int64_t v[SSE_N_INT_PARAMS], header = 0;
	int given[SSE_N_INT_PARAMS];
	size_t n = sse_check_ints(q, v, given, iss, msgs);

	*err = NULL;
	if (n > 0) {
		*err = sse_error_json("VALIDATION_ERROR", "Request validation failed", iss, n);
		return 422;
	}
	if (q->q_header_last_event_id != NULL) {
		if (sse_parse_int(q->q_header_last_event_id, &header) != 0 || header < 1) {
			*err = sse_error_json("INVALID_LAST_EVENT_ID", "Last-Event-ID must be a positive integer", NULL,
					      0);
			return 422;
		}
		if (given[1] && v[1] != header) {
			*err = sse_error_json("INVALID_LAST_EVENT_ID",
					      "Last-Event-ID header and last_event_id query parameter differ", NULL, 0);
			return 422;
		}
	}
	*p = (struct sse_params){
		.sp_project_id = v[0],
		.sp_max_events = (int)v[3],
		.sp_batch_size = given[4] ? (int)v[4] : SSE_BATCH_DEFAULT,
		.sp_poll_interval_ms = given[5] ? (int)v[5] : SSE_POLL_DEFAULT_MS,
		.sp_heartbeat_s = given[6] ? (int)v[6] : SSE_HEARTBEAT_DEFAULT_S,
	};
	if (q->q_header_last_event_id != NULL)
		p->sp_after_id = header;
	else if (given[1])
		p->sp_after_id = v[1];
	else
		p->sp_last_n = (int)v[2];
	return 0;
}

const char *sse_category(const char *event_type)
{
	static const char *const map[][2] = {
		{"task.status.changed", "task_status"},
		{"run.status.changed", "run_status"},
		{"run.log", "run_log"},
		{"alert.raised", "alert"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(event_type, map[i][0]) == 0)
			return map[i][1];
	return "generic";
}

/* The payload as JSON: the oneof's message in proto3 JSON, or for an event
 * posted with one of the original's types (a CustomEvent), the posted JSON.
 * A new reference. */
static json_t *sse_payload(const Beebeebrain__V1__Event *ev)
{
	const ProtobufCFieldDescriptor *f;

	if (ev->payload_case == BEEBEEBRAIN__V1__EVENT__PAYLOAD__NOT_SET)
		return json_object();
	if (ev->payload_case == BEEBEEBRAIN__V1__EVENT__PAYLOAD_CUSTOM &&
	    strcmp(sse_category(ev->event_type), "generic") != 0) {
		json_t *j = json_loads(ev->custom->data_json, JSON_DECODE_ANY, NULL);
		return j != NULL ? j : json_object();
	}
	f = protobuf_c_message_descriptor_get_field(&beebeebrain__v1__event__descriptor, (unsigned)ev->payload_case);
	if (f == NULL)
		return json_object();
	const ProtobufCMessage *m = *(const ProtobufCMessage *const *)((const char *)ev + f->offset);
	return m != NULL ? pbjson_encode(m) : json_object();
}

char *sse_record_json(const Beebeebrain__V1__Event *ev)
{
	char at[40];
	json_t *payload = sse_payload(ev);

	if (payload == NULL)
		return NULL;
	clock_format_rfc3339(ev->created_at_ms, at, sizeof(at));
	json_t *root = json_pack("{s:I, s:I, s:s, s:s, s:o, s:s, s:s?}", "id", (json_int_t)ev->id, "project_id",
				 (json_int_t)ev->project_id, "event_type", ev->event_type, "category",
				 sse_category(ev->event_type), "payload", payload, "created_at", at, "trace_id",
				 ev->trace_id[0] != '\0' ? ev->trace_id : NULL);
	if (root == NULL)
		return NULL;
	char *text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

int sse_frame(struct dbuf *b, int64_t id, const char *event_type, const char *json)
{
	return dbuf_printf(b, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", id, event_type, json);
}

static int sse_post_fail(char **err, const char *field, const char *message)
{
	struct sse_issue is = {field, message};

	*err = sse_error_json("VALIDATION_ERROR", "Request validation failed", &is, 1);
	return 422;
}

int sse_post_parse(const char *body, size_t len, struct sse_post *out, char **err)
{
	static const char *const types[] = {"task.status.changed", "run.status.changed", "run.log", "alert.raised"};
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *pid, *type, *payload, *trace;
	int rc = 0, type_ok = 0;

	memset(out, 0, sizeof(*out));
	*err = NULL;
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return sse_post_fail(err, "body.0", "JSON decode error");
	}
	pid = json_object_get(root, "project_id");
	type = json_object_get(root, "event_type");
	payload = json_object_get(root, "payload");
	trace = json_object_get(root, "trace_id");
	for (size_t i = 0; json_is_string(type) && i < sizeof(types) / sizeof(types[0]); i++)
		type_ok |= strcmp(json_string_value(type), types[i]) == 0;
	if (!json_is_integer(pid) || json_integer_value(pid) < 1)
		rc = sse_post_fail(err, "body.project_id", "Input should be a positive integer");
	else if (!type_ok)
		rc = sse_post_fail(err, "body.event_type",
				   "Input should be 'task.status.changed', 'run.status.changed', 'run.log' or "
				   "'alert.raised'");
	else if (payload != NULL && !json_is_object(payload))
		rc = sse_post_fail(err, "body.payload", "Input should be a valid dictionary");
	else if (trace != NULL && !json_is_null(trace) && !json_is_string(trace))
		rc = sse_post_fail(err, "body.trace_id", "Input should be a valid string");
	if (rc == 0) {
		out->sp_project = json_integer_value(pid);
		out->sp_event_type = xstrdup(json_string_value(type));
		out->sp_payload_json = payload != NULL ? json_dumps(payload, JSON_COMPACT) : xstrdup("{}");
		out->sp_trace_id = xstrdup(json_is_string(trace) ? json_string_value(trace) : "");
		if (out->sp_payload_json == NULL)
			abort();
	}
	json_decref(root);
	return rc;
}

void sse_post_free(struct sse_post *p)
{
	free(p->sp_event_type);
	free(p->sp_payload_json);
	free(p->sp_trace_id);
	memset(p, 0, sizeof(*p));
}
