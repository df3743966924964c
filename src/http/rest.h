/*
 * The original backend's REST routes (/api/v1/...), served by our RPC
 * methods: one route table (rest_routes.c) says, per route, the HTTP method,
 * the path pattern with its {captures}, the RPC method, where each input of
 * the original comes from (path, query, JSON body) and which request field it
 * fills, and the shape of the answer. Nothing here decides a rule of the
 * domain: a route builds the request message, the dispatcher runs it exactly
 * as an nng or Connect call (key, audit, validation, deadlines), and the
 * reply is rendered the way the original wrote it.
 *
 * What the original's clients see (docs/protocol.md, "The original REST
 * routes"):
 *   - its field names (initial_persona_prompt, run_status, cost_usd ...),
 *     enums as lower-case text, times as ISO-8601 UTC ("...T23:14:26.165Z"),
 *     money as a decimal string ("0.0012"), an unset reference id as null;
 *   - its error envelope {"error":{"code","message","issues":[{"field",
 *     "message"}]}}, with issue fields named body.<f>, query.<f>, path.<f>;
 *   - its statuses: 201 on create, 204 with no body on delete, 422 for
 *     validation and refused transitions, 409 for conflicts.
 *
 * Pure functions over strings and messages, unit-tested in
 * tests/unit/test_rest.c; http_server.c does the I/O.
 */
#ifndef BBB_HTTP_REST_H
#define BBB_HTTP_REST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "beebeebrain/v1/rpc.pb-c.h"
#include "common/status.h"

/* ---- the route table */

enum rest_src { REST_PATH = 1, REST_QUERY, REST_BODY };

/* rest_param.p_flags */
#define RP_REQUIRED 0x1 /* the original refused a request without it */
#define RP_TIME 0x2 /* ISO-8601 text for an int64 *_ms field */
#define RP_TRACE 0x4 /* also the trace id of the call (its events carry it) */
#define RP_PER_ID 0x8 /* one value repeated for each of the request's task_ids */
#define RP_NO_MASK 0x10 /* with RT_MASK: an input of the call, not a field it changes */

/* One input of the original: where it comes from, its name there, and the
 * request field it fills (NULL: accepted and not passed on). Integers given
 * in the path or the query are checked against p_min..p_max when p_max > 0;
 * p_dflt is the original's default, written as the query would give it. */
struct rest_param {
	enum rest_src p_src;
	const char *p_name;
	const char *p_field;
	unsigned p_flags;
	int p_min, p_max;
	const char *p_dflt;
};

/* How a reply becomes the answer's body. */
enum rest_shape {
	RS_ONE, /* the message field rt_pick, as an object */
	RS_LIST, /* the repeated field rt_pick, as an array */
	RS_EMPTY, /* no body (204) */
	RS_TOOL, /* {tool,task_id,task_status,task_version,idempotency_key,idempotency_hit,inbox_item_id} */
	RS_BROADCAST, /* {command,project_id,status_filter,total_targets,applied_count,failed_count,items} */
	RS_RUNS_SUMMARY, /* {total_runs,<status>_runs...,total_token_in,...,avg_duration_seconds} */
};

/* A refusal of ours the original named otherwise on one route: reason
 * r_from (with r_field: a VALIDATION_ERROR whose only violation is that
 * field) is answered as r_to. */
struct rest_remap {
	const char *r_from, *r_field, *r_to;
};

/* rest_route.rt_flags */
#define RT_BODY_REQUIRED 0x1 /* no body is 422 (the task commands) */
#define RT_MASK 0x2 /* update_mask lists the body's fields that are given */
#define RT_WAIT 0x4 /* wait = true: RunTask answers with the final run */
/* Neither task_ids nor status: status = running (the original's broadcast
 * default; ours is every status the command can act on). */
#define RT_RUNNING_BY_DEFAULT 0x8

#define REST_CAPS_MAX 2

struct rest_route {
	const char *rt_method;
	const char *rt_pattern; /* "/api/v1/tasks/{id}/pause"; each {x} is one segment */
	const char *rt_rpc; /* "/beebeebrain.v1.TaskService/PauseTask" */
	int rt_status; /* on success */
	unsigned rt_flags;
	enum rest_shape rt_shape;
	const char *rt_pick;
	const struct rest_param *rt_params; /* ends with p_src 0 */
	const struct rest_remap *rt_remaps; /* NULL, or ends with r_from NULL */
};

extern const struct rest_route rest_routes[];
extern const size_t rest_n_routes;

/* The outcome of routing a method and a path. */
struct rest_match {
	const struct rest_route *m_route; /* NULL unless m_status is 200 */
	int m_status; /* 200 a route, 404 no path matches, 405 a path matches with other methods */
	char m_caps[REST_CAPS_MAX][128]; /* the {captures}, in order */
	char m_allow[48]; /* 405: "GET, POST" */
};

/* Routes method and path (path without the query string) through `routes`
 * (n of them, in order: the first full match wins). Returns m->m_status. */
int rest_match_route(const struct rest_route *routes, size_t n, const char *method, const char *path,
		     struct rest_match *m);

/* ---- requests */

/* The request message of a call as proto3 JSON for pbjson_decode (a new
 * reference), from the captures of m, the query (an object of strings; NULL:
 * none) and the body (body_len 0: none). NULL on a refusal, with st set:
 * VALIDATION_ERROR with one violation per offending input, named as the
 * original named them ("body.title", "query.limit", "path.task_id"; "body.0"
 * "JSON decode error" for a body that is not JSON). *trace is set to the
 * body's trace_id when the route takes one (else left alone; n bytes). */
json_t *rest_request_json(const struct rest_match *m, const ProtobufCMessageDescriptor *input, const json_t *query,
			  const char *body, size_t body_len, char *trace, size_t n, bbb_status *st);

/* ---- answers */

/* The HTTP status of an error, by reason, else by code. */
int rest_http_status(int code, const char *reason);

/* The original's name for the refusal resp on route rt; NULL: ours. */
const char *rest_remap_reason(const struct rest_route *rt, const Beebeebrain__V1__RpcResponse *resp);

/* The error envelope of a failed reply, violations renamed to the route's
 * inputs (a field no input names is "body.<field>"). malloc'd. rt may be
 * NULL for a reply without violations. */
char *rest_error_json(const struct rest_route *rt, const Beebeebrain__V1__RpcResponse *resp);

/* The body of a successful reply `out` to the request `req` (both decoded),
 * malloc'd; NULL for RS_EMPTY or when it does not encode. */
char *rest_answer_json(const struct rest_match *m, const ProtobufCMessage *req, const ProtobufCMessage *out);

/* A message in the original's JSON (see the file comment); a new reference. */
json_t *rest_message_json(const ProtobufCMessage *m);

/* ms since the epoch as "2026-12-01T23:14:26.165Z" (buf >= 32 bytes). */
const char *rest_iso_time(int64_t ms, char *buf, size_t n);
/* ISO-8601 date-time ("2026-12-01T23:14:26", fraction and zone optional,
 * no zone is UTC) or date ("2026-12-01") into ms. 0, or -1 when it is not. */
int rest_parse_time(const char *s, int64_t *ms);
/* Micro-dollars as a decimal string: 1200 -> "0.0012", 0 -> "0" (buf >= 32). */
const char *rest_usd(int64_t micros, char *buf, size_t n);

/* ---- one request (what http_server.c holds between its threads) */

struct rest_call;

/* A call of the route m found (copied). Free with rest_call_free. */
struct rest_call *rest_call_new(const struct rest_match *m);
/* Adds a query argument (the first of a name counts). */
void rest_call_query(struct rest_call *c, const char *key, const char *value);
/* The RPC method's full name. */
const char *rest_call_rpc(const struct rest_call *c);
/* Builds the packed request (malloc'd into *packed) of the call from the
 * body; -1 with st set when the inputs are refused (the caller lets the
 * dispatcher answer with st, after the checks every call gets). */
int rest_call_payload(struct rest_call *c, const ProtobufCMethodDescriptor *md, const uint8_t *body, size_t len,
		      uint8_t **packed, size_t *packed_len, bbb_status *st);
/* The body's trace_id after rest_call_payload; "" when none. */
const char *rest_call_trace(const struct rest_call *c);
/* The answer's body (malloc'd, NULL for none: 204) and status from the
 * dispatcher's reply; md NULL when the method is unknown. */
char *rest_call_answer(struct rest_call *c, const ProtobufCMethodDescriptor *md,
		       const Beebeebrain__V1__RpcResponse *resp, int *status, size_t *len);
void rest_call_free(struct rest_call *c);

#endif
