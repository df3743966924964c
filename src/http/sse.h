/*
 * The original HTTP API's event routes, the parts that need no connection:
 * the query and Last-Event-ID checks of GET /api/v1/events/stream, the
 * StreamEventRecord JSON of an event, the SSE frames, the body of POST
 * /api/v1/events and the error envelope both answer with. Pure functions,
 * unit-tested in tests/unit/test_sse.c; stream.c and http_server.c do the
 * I/O. The behaviour is the one docs/events.md ("Server-Sent Events") gives.
 */
#ifndef BBB_HTTP_SSE_H
#define BBB_HTTP_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/dbuf.h"

#define SSE_MAX_ISSUES 8

/* The raw values of a stream request; NULL: absent. */
struct sse_query {
	const char *q_project_id;
	const char *q_last_event_id;
	const char *q_replay_last;
	const char *q_max_events;
	const char *q_batch_size;
	const char *q_poll_interval_ms;
	const char *q_heartbeat_seconds;
	const char *q_header_last_event_id; /* the Last-Event-ID header */
};

/* What a valid stream request asks for. */
struct sse_params {
	int64_t sp_project_id; /* 0: every project */
	int64_t sp_after_id; /* the cursor: events with id > sp_after_id */
	int sp_last_n; /* > 0: no cursor, start with the last sp_last_n events */
	int sp_max_events; /* 0: no limit */
	int sp_batch_size;
	int sp_poll_interval_ms;
	int sp_heartbeat_s;
};

/* Checks a stream request. 0 with *p filled; otherwise the HTTP status
 * (422) with the error envelope in *err (malloc'd, the caller frees it):
 * VALIDATION_ERROR listing every bad query value (field "query.<name>"),
 * else INVALID_LAST_EVENT_ID when the header is not a positive integer or
 * differs from the query's last_event_id. A cursor (header or query) wins
 * over replay_last; with neither and replay_last 0 the stream starts after
 * id 0: the whole history. */
int sse_parse(const struct sse_query *q, struct sse_params *p, char **err);

struct sse_issue {
	const char *i_field;
	const char *i_message;
};

/* The original API's error envelope, the one writer of it (rest.c's routes
 * use it too): {"error":{"code":..,"message":..,"issues":[{"field","message"}..]}},
 * malloc'd. */
char *sse_error_json(const char *code, const char *message, const struct sse_issue *issues, size_t n);

/* The original's category of an event type: task_status, run_status,
 * run_log, alert or generic. */
const char *sse_category(const char *event_type);

/* The StreamEventRecord of an event as one line of JSON:
 * {id,project_id,event_type,category,payload,created_at,trace_id}. The
 * payload is the event's typed payload in proto3 JSON; an event posted
 * through POST /api/v1/events gives back the JSON it was posted with.
 * malloc'd; NULL when the event does not encode (invalid UTF-8). */
char *sse_record_json(const Beebeebrain__V1__Event *ev);

/* Appends "id: N\nevent: TYPE\ndata: JSON\n\n". */
int sse_frame(struct dbuf *b, int64_t id, const char *event_type, const char *json);
/* The heartbeat comment. */
#define SSE_HEARTBEAT ": heartbeat\n\n"

/* The body of POST /api/v1/events, checked. */
struct sse_post {
	int64_t sp_project;
	char *sp_event_type; /* malloc'd, like the two below */
	char *sp_payload_json; /* the payload object as compact JSON */
	char *sp_trace_id; /* "" when absent */
};
/* 0 with *out filled (free it with sse_post_free); otherwise 422 with the
 * VALIDATION_ERROR envelope in *err (malloc'd). */
int sse_post_parse(const char *body, size_t len, struct sse_post *out, char **err);
void sse_post_free(struct sse_post *p);

#endif
