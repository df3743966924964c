/*
 * The HTTP listener (see http_server.h): libmicrohttpd daemons for the I/O,
 * the shared worker pool for the calls, the RPC dispatcher for everything a
 * call means.
 *
 * A request lives in a struct http_req from its first header to the
 * libmicrohttpd "completed" callback, which writes its access log line and
 * frees it. Its life:
 *   reading   the access handler (the daemon's thread) checks the route and
 *             headers on the first call, collects the body on the next ones;
 *   queued    once the body is complete, the connection is suspended and
 *             the request put on the queue, unless it was answered already
 *             (404, 405, 415, 413, a bad header);
 *   running   a worker builds the RpcRequest envelope, dispatches it, and
 *             turns the RpcResponse into the HTTP response (or hands a
 *             deferred call to the pool's waiter, which does the same
 *             later);
 *   done      the worker resumes the connection; the access handler is
 *             called again and queues the response.
 * Fields written before the request is queued are read by the worker after
 * it takes the request under the pool's lock; the response fields the worker writes are
 * read by the daemon's thread after MHD_resume_connection (which takes the
 * daemon's lock): each field has one writer at a time.
 */
#include "http/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "beebeebrain/v1/event.pb-c.h"
#include "beebeebrain/v1/rpc.pb-c.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pbjson.h"
#include "common/status.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "http/connect.h"
#include "http/http_ops.h"
#include "http/rest.h"
#include "http/sse.h"
#include "http/stream.h"
#include "rpc/work_pool.h"

#define HTTP_CONNECT_PREFIX "/beebeebrain.v1."
#define HTTP_DRAIN_MS 1000
/* A Connect stream's heartbeat when idle: a SubscribeResponse with the head id. */
#define HTTP_STREAM_HEARTBEAT_MS 15000
/* What libmicrohttpd may use per connection for the request line, the
 * headers and its bookkeeping (its default). It refuses a request that does
 * not fit with 431 itself; the 16 KiB of HTTP_HEADER_MAX are counted by
 * http_header_bytes, and leave room for some 300 headers' bookkeeping. */
#define HTTP_CONN_MEMORY ((size_t)32 << 10)

enum http_kind {
	HK_NOT_FOUND,
	HK_BAD_METHOD,
	HK_HEALTHZ,
	HK_READYZ,
	HK_CONNECT,
	HK_METRICS,
	HK_REST,
	HK_SSE,
	HK_EVENTS_POST
};

/* The most a scrape may be: far more than the families ever take. */
#define HTTP_METRICS_MAX ((size_t)16 << 20)
#define HTTP_SSE_PATH "/api/v1/events/stream"
#define HTTP_EVENTS_PATH "/api/v1/events"

struct http_req {
	struct http_server *r_srv;
	struct MHD_Connection *r_conn;
	enum http_kind r_kind;
	int64_t r_t0; /* CLOCK_MONOTONIC ms of the first header call */
	char r_method[16];
	char *r_path;
	char r_peer[80];
	/* The trace id sent to the dispatcher: the client's (valid or not: the
	 * dispatcher judges it as on the RPC path) or a fresh one. */
	char r_trace[104];
	/* The call (HK_CONNECT, HK_HEALTHZ, HK_READYZ) */
	const char *r_rpc_method;
	const ProtobufCMethodDescriptor *r_md; /* NULL: no such method (the dispatcher says so) */
	enum connect_codec r_codec;
	int r_streams; /* a Connect server stream (EventService/Subscribe) */
	struct sse_params r_sse; /* HK_SSE: the checked query */
	struct MHD_Response *r_stream; /* a stream's response, queued instead of r_resp */
	uint32_t r_timeout_ms;
	char *r_api_key;
	char *r_request_id;
	uint8_t *r_body;
	size_t r_len, r_cap;
	int r_overflow; /* a chunked body grew past the limit */
	struct rest_call *r_rest; /* HK_REST: the route, its query and its request */
	/* The response, set once: by the access handler (an early answer) or by
	 * the worker / waiter before it resumes the connection. */
	int r_answered;
	int r_queued; /* handed to MHD_queue_response */
	int r_status;
	char *r_resp; /* malloc'd; libmicrohttpd frees it once queued */
	size_t r_resp_len;
	const char *r_ctype;
	const char *r_allow; /* 405: the methods allowed */
	char r_allow_buf[48]; /* a REST path's methods */
	int r_accept_post; /* 415: list the accepted media types */
	int r_close; /* answer with Connection: close (the framing is doubtful) */
	char r_resp_trace[104];
	struct work_item r_item; /* queued for the workers */
	struct work_deferred r_wd; /* a deferred call, with the waiter */
};

struct http_server {
	struct http_server_options s_opts;
	struct rpc_dispatcher *s_d;
	struct MHD_Daemon **s_daemons;
	size_t s_n_daemons;
	atomic_int s_stopping; /* new requests get 503 SHUTTING_DOWN */
	atomic_int s_active; /* requests between their first header and "completed" */
	/* This listener's calls in the shared pool (no limit of its own: the
	 * connections bound them); closed when it stops. */
	struct work_source s_src;
	struct metrics_family *s_requests; /* {route, method, status} */
	/* The event streams (stream.h) and their read connection. */
	struct stream_hub *s_hub;
	void *s_hub_state;
};

/* ---- URLs */

/* Splits "http[s]://HOST:PORT[/]" into host (brackets removed), port, and
 * whether it is https (*tls). */
static int http_url_split(const char *url, char *host, size_t host_n, char *port, size_t port_n, int *tls, char *why,
			  size_t n)
{
	const char *p, *colon, *end;
	size_t hl, pl;

	*tls = strncmp(url, "https://", 8) == 0;
	if (!*tls && strncmp(url, "http://", 7) != 0) {
		snprintf(why, n, "is not an http:// or https:// URL");
		return -1;
	}
	p = url + (*tls ? 8 : 7);
	end = p + strlen(p);
	if (end > p && end[-1] == '/')
		end--;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (rb == NULL || rb[1] != ':') {
			snprintf(why, n, "has an IPv6 host without ]:PORT");
			return -1;
		}
		hl = (size_t)(rb - p - 1);
		p++;
		colon = rb + 1;
	} else {
		colon = NULL;
		for (const char *q = p; q < end; q++)
			if (*q == ':')
				colon = q;
		if (colon == NULL) {
			snprintf(why, n, "has no :PORT");
			return -1;
		}
		hl = (size_t)(colon - p);
	}
	pl = (size_t)(end - colon - 1);
	if (hl == 0 || hl >= host_n || pl == 0 || pl > 5 || pl >= port_n) {
		snprintf(why, n, "needs a HOST and a PORT of 0..65535");
		return -1;
	}
	memcpy(host, p, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, pl);
	port[pl] = '\0';
	for (size_t i = 0; i < hl; i++)
		if (host[i] == '/' || host[i] == '@' || (unsigned char)host[i] <= ' ') {
			snprintf(why, n, "has a path, user or space in its host");
			return -1;
		}
	if (strspn(port, "0123456789") != pl || atoi(port) > 65535) {
		snprintf(why, n, "needs a PORT of 0..65535");
		return -1;
	}
	return 0;
}

int http_url_check(const char *url, char *why, size_t n)
{
	char host[256], port[8];
	int tls;

	return http_url_split(url, host, sizeof(host), port, sizeof(port), &tls, why, n);
}

/* ---- the calls, on the pool's workers and waiter */

static void http_resume(struct http_req *r)
{
	MHD_resume_connection(r->r_conn);
}

/* The HTTP response of a Connect call from the dispatcher's reply. */
static void http_connect_answer(struct http_req *r, const Beebeebrain__V1__RpcResponse *resp)
{
	r->r_status = connect_http_status(resp->code, resp->reason);
	r->r_ctype = "application/json";
	if (resp->code != 0) {
		r->r_resp = connect_error_json(resp, &r->r_resp_len);
		return;
	}
	if (r->r_codec == CONNECT_CODEC_PROTO) {
		r->r_ctype = "application/proto";
		r->r_resp = xmalloc(resp->payload.len + 1);
		if (resp->payload.len > 0)
			memcpy(r->r_resp, resp->payload.data, resp->payload.len);
		r->r_resp_len = resp->payload.len;
		return;
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(r->r_md->output, NULL, resp->payload.len, resp->payload.data);
	char *text = m != NULL ? pbjson_dumps(m, 0) : NULL;
	protobuf_c_message_free_unpacked(m, NULL);
	if (text == NULL) {
		Beebeebrain__V1__RpcResponse e = *resp;
		e.code = BBB_INTERNAL;
		e.reason = "INTERNAL_ERROR";
		e.message = "the response does not encode as JSON";
		r->r_status = 500;
		r->r_resp = connect_error_json(&e, &r->r_resp_len);
		return;
	}
	r->r_resp = text;
	r->r_resp_len = strlen(text);
}

/* Turns the dispatcher's packed reply into r's response and resumes r. */
static void http_finish(struct http_req *r, const uint8_t *out, size_t out_len)
{
	Beebeebrain__V1__RpcResponse *resp = beebeebrain__v1__rpc_response__unpack(NULL, out_len, out);

	if (resp == NULL) {
		/* The dispatcher always packs a valid envelope; say so if not. */
		Beebeebrain__V1__RpcResponse e = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
		e.code = BBB_INTERNAL;
		e.reason = "INTERNAL_ERROR";
		e.message = "the reply does not decode";
		e.trace_id = r->r_trace;
		r->r_status = 500;
		r->r_ctype = "application/json";
		r->r_resp = connect_error_json(&e, &r->r_resp_len);
		snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", r->r_trace);
	} else {
		snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", resp->trace_id);
		if (r->r_kind == HK_CONNECT) {
			http_connect_answer(r, resp);
		} else if (r->r_kind == HK_REST) {
			/* The original echoed the header's trace id, whatever the call's. */
			snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", r->r_trace);
			r->r_ctype = "application/json";
			r->r_resp = rest_call_answer(r->r_rest, r->r_md, resp, &r->r_status, &r->r_resp_len);
		} else {
			r->r_ctype = "application/json";
			r->r_resp = http_ops_body(resp, r->r_kind == HK_READYZ, &r->r_status, &r->r_resp_len);
		}
		beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	}
	r->r_answered = 1;
	http_resume(r);
}

/* A JSON body as the packed request message (malloc'd into *packed, or NULL
 * for an empty message). -1 with st set when it is not one. */
static int http_json_payload(const struct http_req *r, uint8_t **packed, size_t *len, bbb_status *st)
{
	ProtobufCMessage *m = NULL;

	*packed = NULL;
	*len = 0;
	/* Connect clients send an empty body for an empty message too. */
	if (r->r_len == 0)
		return 0;
	if (pbjson_decode(r->r_md->input, (const char *)r->r_body, r->r_len, NULL, &m, st) != 0)
		return -1;
	*len = protobuf_c_message_get_packed_size(m);
	*packed = xmalloc(*len + 1);
	protobuf_c_message_pack(m, *packed);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* GET /metrics on a worker: the registry's text, rendered with its state. */
static void http_metrics_answer(struct http_server *s, void *state, struct http_req *r)
{
	struct dbuf out;

	dbuf_init(&out, HTTP_METRICS_MAX);
	s->s_opts.metrics(s->s_opts.env, state, &out);
	snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", r->r_trace);
	r->r_status = 200;
	r->r_ctype = "text/plain; version=0.0.4; charset=utf-8";
	r->r_resp_len = dbuf_len(&out);
	r->r_resp = out.db_buf != NULL ? dbuf_take(&out) : xstrdup("");
	r->r_answered = 1;
}

/* ---- the event routes: SSE, Connect streams, POST /api/v1/events */

static void http_answer_json(struct http_req *r, int status, const char *json);
static void http_answer_error(struct http_req *r, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The original API's error envelope for a dispatcher's refusal: the reason
 * as its code, violations as issues under `where` ("query", "body"). */
static void http_events_refused(struct http_req *r, const Beebeebrain__V1__RpcResponse *resp, const char *where)
{
	struct sse_issue iss[SSE_MAX_ISSUES];
	char fields[SSE_MAX_ISSUES][96];
	size_t n = 0;
	int status = resp->code == BBB_INVALID_ARGUMENT ? 422 : connect_http_status(resp->code, resp->reason);

	for (size_t i = 0; i < resp->n_violations && n < SSE_MAX_ISSUES; i++, n++) {
		snprintf(fields[n], sizeof(fields[n]), "%s.%s", where, resp->violations[i]->field);
		iss[n] = (struct sse_issue){fields[n], resp->violations[i]->description};
	}
	char *body = sse_error_json(resp->reason, resp->message, iss, n);
	http_answer_json(r, status, body);
	free(body);
}

/* Runs one call through the dispatcher (a stream's check with can_stream):
 * the reply, or NULL when it does not decode (then r is answered 500). */
static Beebeebrain__V1__RpcResponse *http_events_call(struct http_server *s, void *state, struct http_req *r,
						      const char *method, const ProtobufCMessage *msg, int stream)
{
	Beebeebrain__V1__RpcRequest env = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	uint8_t *in, *payload, *out = NULL;
	size_t in_len, out_len = 0;
	Beebeebrain__V1__RpcResponse *resp;

	payload = xmalloc(protobuf_c_message_get_packed_size(msg) + 1);
	env.payload.len = protobuf_c_message_pack(msg, payload);
	env.payload.data = payload;
	env.method = (char *)method;
	env.timeout_ms = r->r_timeout_ms;
	env.api_key = r->r_api_key != NULL ? r->r_api_key : "";
	env.trace_id = r->r_trace;
	env.request_id = r->r_request_id != NULL ? r->r_request_id : "";
	in_len = protobuf_c_message_get_packed_size(&env.base);
	in = xmalloc(in_len + 1);
	protobuf_c_message_pack(&env.base, in);
	if (stream)
		rpc_dispatch_stream(s->s_d, state, r->r_peer, in, in_len, &out, &out_len);
	else
		rpc_dispatch(s->s_d, state, in, in_len, &out, &out_len);
	free(in);
	free(payload);
	resp = beebeebrain__v1__rpc_response__unpack(NULL, out_len, out);
	free(out);
	snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", resp != NULL ? resp->trace_id : r->r_trace);
	if (resp == NULL)
		http_answer_json(r, 500,
				 "{\"error\":{\"code\":\"INTERNAL_ERROR\",\"message\":\"bad reply\",\"issues\":[]}}");
	return resp;
}

/* Opens the stream of a checked request: r's response streams from the hub. */
static void http_events_open(struct http_server *s, void *state, struct http_req *r,
			     const Beebeebrain__V1__SubscribeRequest *sub, enum stream_framing fr, int heartbeat_ms)
{
	struct stream_spec sp = {
		.sp_framing = fr,
		.sp_after_id = sub->after_id,
		.sp_project_id = sub->project_id,
		.sp_type_prefix = sub->type_prefix,
		.sp_max_events = sub->max_events,
		.sp_heartbeat_ms = heartbeat_ms,
		.sp_deadline_ms = r->r_timeout_ms > 0 ? r->r_t0 + r->r_timeout_ms : 0,
	};
	bbb_status st;

	status_clear(&st);
	if (sub->after_id == 0 && sub->last_n > 0 && s->s_opts.events_start != NULL &&
	    s->s_opts.events_start(state, sub->last_n, sub->type_prefix, sub->project_id, &sp.sp_after_id, &st) != 0) {
		http_answer_error(r, 500, "INTERNAL_ERROR", "%s", st.message);
		return;
	}
	r->r_stream = s->s_hub != NULL ? stream_open(s->s_hub, r->r_conn, &sp) : NULL;
	if (r->r_stream == NULL) {
		http_answer_error(r, 503, "SHUTTING_DOWN", "the server is stopping");
		return;
	}
	MHD_add_response_header(r->r_stream, "Cache-Control", "no-cache");
	r->r_status = 200;
	r->r_ctype = fr == STREAM_SSE            ? "text/event-stream"
		     : fr == STREAM_CONNECT_JSON ? "application/connect+json"
						 : "application/connect+proto";
	r->r_answered = 1;
}

/* A Connect stream that ends before it starts: 200 and the end-of-stream
 * message with the error (the Connect protocol's streaming errors). */
static void http_stream_refused(struct http_req *r, const Beebeebrain__V1__RpcResponse *resp)
{
	uint8_t h[CONNECT_ENVELOPE_HEADER];
	size_t n;
	char *end = connect_end_stream_json(resp, &n);

	r->r_resp = xmalloc(n + CONNECT_ENVELOPE_HEADER);
	connect_envelope_header(h, CONNECT_FLAG_END_STREAM, (uint32_t)n);
	memcpy(r->r_resp, h, sizeof(h));
	memcpy(r->r_resp + CONNECT_ENVELOPE_HEADER, end, n);
	free(end);
	r->r_resp_len = n + CONNECT_ENVELOPE_HEADER;
	r->r_status = 200;
	r->r_ctype = r->r_codec == CONNECT_CODEC_JSON ? "application/connect+json" : "application/connect+proto";
	r->r_answered = 1;
}

/* The SubscribeRequest of a Connect stream's body: one envelope. */
static Beebeebrain__V1__SubscribeRequest *http_stream_request(struct http_req *r, bbb_status *st)
{
	const uint8_t *msg;
	size_t len;
	ProtobufCMessage *m = NULL;
	const ProtobufCMessageDescriptor *d = &beebeebrain__v1__subscribe_request__descriptor;

	if (connect_unenvelope(r->r_body, r->r_len, &msg, &len) != 0) {
		status_fail(st, "MALFORMED_REQUEST", "the body must be one uncompressed enveloped message");
		return NULL;
	}
	if (r->r_codec == CONNECT_CODEC_JSON) {
		if (pbjson_decode(d, (const char *)msg, len, NULL, &m, st) != 0)
			return NULL;
	} else if ((m = protobuf_c_message_unpack(d, NULL, len, msg)) == NULL) {
		status_fail(st, "MALFORMED_REQUEST", "the message does not decode as SubscribeRequest");
	}
	return (Beebeebrain__V1__SubscribeRequest *)m;
}

static void http_events_stream(struct http_server *s, void *state, struct http_req *r)
{
	Beebeebrain__V1__SubscribeRequest sse = BEEBEEBRAIN__V1__SUBSCRIBE_REQUEST__INIT, *sub = &sse;
	Beebeebrain__V1__RpcResponse *resp;
	bbb_status st;

	status_clear(&st);
	if (r->r_kind == HK_SSE) {
		sse.after_id = r->r_sse.sp_after_id;
		sse.last_n = r->r_sse.sp_last_n;
		sse.project_id = r->r_sse.sp_project_id;
		sse.max_events = r->r_sse.sp_max_events;
	} else if ((sub = http_stream_request(r, &st)) == NULL) {
		Beebeebrain__V1__RpcResponse e = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
		e.code = st.code;
		e.reason = st.reason;
		e.message = st.message;
		e.trace_id = r->r_trace;
		snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", r->r_trace);
		http_stream_refused(r, &e);
		return;
	}
	resp = http_events_call(s, state, r, "/beebeebrain.v1.EventService/Subscribe", &sub->base, 1);
	if (resp != NULL && resp->code != 0 && r->r_kind == HK_SSE)
		http_events_refused(r, resp, "query");
	else if (resp != NULL && resp->code != 0)
		http_stream_refused(r, resp);
	else if (resp != NULL)
		http_events_open(s, state, r, sub,
				 r->r_kind == HK_SSE                ? STREAM_SSE
				 : r->r_codec == CONNECT_CODEC_JSON ? STREAM_CONNECT_JSON
								    : STREAM_CONNECT_PROTO,
				 r->r_kind == HK_SSE ? r->r_sse.sp_heartbeat_s * 1000 : HTTP_STREAM_HEARTBEAT_MS);
	if (resp != NULL)
		beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
	if (sub != &sse)
		protobuf_c_message_free_unpacked(&sub->base, NULL);
}

/* POST /api/v1/events: EventService/Publish with `legacy` set. */
static void http_events_post(struct http_server *s, void *state, struct http_req *r)
{
	Beebeebrain__V1__PublishRequest req = BEEBEEBRAIN__V1__PUBLISH_REQUEST__INIT;
	Beebeebrain__V1__RpcResponse *resp;
	struct sse_post post;
	char *err = NULL;

	if (sse_post_parse((const char *)r->r_body, r->r_len, &post, &err) != 0) {
		http_answer_json(r, 422, err);
		free(err);
		return;
	}
	req.legacy = 1;
	req.event_type = post.sp_event_type;
	req.project_id = post.sp_project;
	req.data_json = post.sp_payload_json;
	req.trace_id = post.sp_trace_id;
	req.actor = "api";
	resp = http_events_call(s, state, r, r->r_rpc_method, &req.base, 0);
	sse_post_free(&post);
	if (resp == NULL)
		return;
	if (resp->code != 0) {
		http_events_refused(r, resp, "body");
	} else {
		Beebeebrain__V1__PublishResponse *pr =
			beebeebrain__v1__publish_response__unpack(NULL, resp->payload.len, resp->payload.data);
		char *json = pr != NULL && pr->event != NULL ? sse_record_json(pr->event) : NULL;
		http_answer_json(r, json != NULL ? 201 : 500, json != NULL ? json : "{}");
		free(json);
		if (pr != NULL)
			beebeebrain__v1__publish_response__free_unpacked(pr, NULL);
	}
	beebeebrain__v1__rpc_response__free_unpacked(resp, NULL);
}

static void http_events_run(struct http_server *s, void *state, struct http_req *r)
{
	if (r->r_kind == HK_EVENTS_POST)
		http_events_post(s, state, r);
	else
		http_events_stream(s, state, r);
	http_resume(r);
}

/* A deferred call's answer, on the pool's waiter. */
static void http_deferred_answer(struct work_deferred *d, const uint8_t *out, size_t len)
{
	http_finish((struct http_req *)((char *)d - offsetof(struct http_req, r_wd)), out, len);
}

/* Runs one request on a worker: envelope, dispatch, answer (or defer). A
 * JSON body is decoded here, off the listener's thread; one that does not
 * decode is refused by the dispatcher after the checks every call gets. */
static void http_run(struct http_server *s, void *state, struct http_req *r)
{
	Beebeebrain__V1__RpcRequest env = BEEBEEBRAIN__V1__RPC_REQUEST__INIT;
	uint8_t *in, *out = NULL, *json_packed = NULL;
	size_t in_len, out_len = 0, json_len = 0;
	struct rpc_deferred *df = NULL;
	bbb_status why;
	int undecodable = 0;

	if (r->r_kind == HK_METRICS) {
		http_metrics_answer(s, state, r);
		http_resume(r);
		return;
	}
	if (r->r_kind == HK_SSE || r->r_kind == HK_EVENTS_POST || r->r_streams) {
		http_events_run(s, state, r);
		return;
	}
	env.method = (char *)r->r_rpc_method;
	env.payload.data = r->r_body;
	env.payload.len = r->r_len;
	if (r->r_kind == HK_CONNECT && r->r_codec == CONNECT_CODEC_JSON) {
		status_clear(&why);
		env.payload.data = NULL;
		env.payload.len = 0;
		if (r->r_md != NULL && http_json_payload(r, &json_packed, &json_len, &why) != 0)
			undecodable = 1;
		else if (r->r_md != NULL) {
			env.payload.data = json_packed;
			env.payload.len = json_len;
		}
	}
	if (r->r_kind == HK_REST) {
		status_clear(&why);
		if (r->r_md != NULL &&
		    rest_call_payload(r->r_rest, r->r_md, r->r_body, r->r_len, &json_packed, &json_len, &why) != 0)
			undecodable = 1;
		env.payload.data = json_packed;
		env.payload.len = json_len;
		if (rest_call_trace(r->r_rest)[0] != '\0' && rpc_trace_id_valid(rest_call_trace(r->r_rest)))
			env.trace_id = (char *)rest_call_trace(r->r_rest);
	}
	env.timeout_ms = r->r_timeout_ms;
	env.api_key = r->r_api_key != NULL ? r->r_api_key : "";
	if (env.trace_id == NULL || env.trace_id[0] == '\0')
		env.trace_id = r->r_trace;
	env.request_id = r->r_request_id != NULL ? r->r_request_id : "";
	in_len = protobuf_c_message_get_packed_size(&env.base);
	in = xmalloc(in_len + 1);
	protobuf_c_message_pack(&env.base, in);
	if (undecodable)
		rpc_dispatch_undecodable(s->s_d, r->r_peer, in, in_len, &why, &out, &out_len);
	else
		rpc_dispatch_deferrable(s->s_d, state, r->r_peer, in, in_len, &out, &out_len, &df);
	free(in);
	free(json_packed);
	if (df != NULL) {
		r->r_wd.wd_answer = http_deferred_answer;
		work_pool_defer(s->s_opts.pool, &s->s_src, &r->r_wd, df);
		return;
	}
	http_finish(r, out, out_len);
	free(out);
}

static void http_req_run(struct work_item *it, void *state)
{
	struct http_req *r = (struct http_req *)((char *)it - offsetof(struct http_req, r_item));

	http_run(r->r_srv, state, r);
}

/* Queues r for the workers; -1 when this listener stops (the caller answers). */
static int http_enqueue(struct http_server *s, struct http_req *r)
{
	r->r_item.wi_run = http_req_run;
	return work_pool_submit(s->s_opts.pool, &s->s_src, &r->r_item, r->r_len) == WORK_QUEUED ? 0 : -1;
}

size_t http_server_streams(struct http_server *s)
{
	return s != NULL && s->s_hub != NULL ? stream_hub_count(s->s_hub) : 0;
}

void http_server_poke(struct http_server *s)
{
	if (s == NULL)
		return;
	work_pool_poke(s->s_opts.pool);
	stream_hub_poke(s->s_hub);
}

/* ---- the access handler */

static void http_peer_name(struct MHD_Connection *c, char *buf, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
	char host[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)) != NULL)
			snprintf(buf, n, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)) != NULL)
			snprintf(buf, n, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	}
}

static const char *http_header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static enum MHD_Result http_count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	size_t *n = cls;

	(void)kind;
	/* "Key: value\r\n", or "key=value&" of the query string */
	*n += strlen(key) + (value != NULL ? strlen(value) : 0) + 4;
	return MHD_YES;
}

/* The size of the request line and headers, as their parts count it. */
static size_t http_header_bytes(struct MHD_Connection *c, const char *method, const char *url)
{
	size_t n = strlen(method) + strlen(url) + strlen(" HTTP/1.1\r\n") + 2;

	MHD_get_connection_values(c, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, http_count_header, &n);
	return n;
}

struct http_framing {
	int f_lengths; /* Content-Length headers */
	int f_encodings; /* Transfer-Encoding headers */
	int f_chunked; /* the one Transfer-Encoding is exactly "chunked" */
};

static enum MHD_Result http_count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct http_framing *f = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->f_lengths++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->f_encodings++;
		f->f_chunked = value != NULL && strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/* Why the body's framing is ambiguous (NULL: it is not): two
 * Content-Lengths, Content-Length with Transfer-Encoding, or a
 * Transfer-Encoding other than chunked. A proxy in front may frame such a
 * request otherwise than libmicrohttpd (which takes the first length), and
 * read the rest as another request (RFC 9112, 6.1 and 6.3): refused, and
 * the connection closed. */
static const char *http_framing_problem(struct MHD_Connection *c)
{
	struct http_framing f = {0};

	MHD_get_connection_values(c, MHD_HEADER_KIND, http_count_framing, &f);
	if (f.f_lengths > 1)
		return "more than one Content-Length";
	if (f.f_encodings > 0 && f.f_lengths > 0)
		return "both Content-Length and Transfer-Encoding";
	if (f.f_encodings > 1 || (f.f_encodings == 1 && !f.f_chunked))
		return "a Transfer-Encoding other than chunked";
	return NULL;
}

/* An answer that needs no worker: a JSON body and a status. */
static void http_answer_json(struct http_req *r, int status, const char *json)
{
	r->r_status = status;
	r->r_ctype = "application/json";
	r->r_resp = xstrdup(json);
	r->r_resp_len = strlen(json);
	if (!rpc_trace_id_valid(r->r_trace))
		rpc_make_trace_id(r->r_trace, sizeof(r->r_trace));
	snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", r->r_trace);
	r->r_answered = 1;
}

/* An error the HTTP layer gives itself (a header the call cannot be made
 * with, a body over the limit, shutdown): the same JSON as the dispatcher's
 * errors, Connect's or, on a REST route, the original's envelope. The trace id is the request's when valid, else a
 * fresh one (the header's own problem is reported only by the dispatcher). */
static void http_answer_error(struct http_req *r, int status, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void http_answer_error(struct http_req *r, int status, const char *reason, const char *fmt, ...)
{
	Beebeebrain__V1__RpcResponse e = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (!rpc_trace_id_valid(r->r_trace))
		rpc_make_trace_id(r->r_trace, sizeof(r->r_trace));
	e.code = status_code_of_reason(reason);
	e.reason = (char *)reason;
	e.message = message;
	e.trace_id = r->r_trace;
	r->r_status = status;
	r->r_ctype = "application/json";
	if (r->r_kind == HK_REST) {
		/* The original's envelope on its routes (no violations: no route needed). */
		r->r_resp = rest_error_json(NULL, &e);
		r->r_resp_len = strlen(r->r_resp);
	} else {
		r->r_resp = connect_error_json(&e, &r->r_resp_len);
	}
	snprintf(r->r_resp_trace, sizeof(r->r_resp_trace), "%s", r->r_trace);
	r->r_answered = 1;
}

static enum MHD_Result http_queue(struct http_req *r)
{
	struct MHD_Response *res;
	enum MHD_Result rc;

	if (r->r_stream != NULL) {
		res = r->r_stream;
		r->r_stream = NULL;
	} else {
		res = MHD_create_response_from_buffer(r->r_resp_len, r->r_resp, MHD_RESPMEM_MUST_FREE);
		if (res == NULL)
			return MHD_NO;
		r->r_resp = NULL; /* libmicrohttpd's now */
	}
	MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, r->r_ctype);
	if (r->r_resp_trace[0] != '\0')
		MHD_add_response_header(res, "X-Trace-ID", r->r_resp_trace);
	if (r->r_allow != NULL)
		MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, r->r_allow);
	if (r->r_accept_post)
		MHD_add_response_header(res, "Accept-Post", "application/proto, application/json");
	if (r->r_close)
		MHD_add_response_header(res, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(r->r_conn, (unsigned)r->r_status, res);
	MHD_destroy_response(res);
	r->r_queued = rc == MHD_YES;
	return rc;
}

/* Which route a method and path take; a REST route's match goes to *rm. */
static enum http_kind http_route(const char *method, const char *path, struct rest_match *rm)
{
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (strcmp(path, "/healthz") == 0)
		return get ? HK_HEALTHZ : HK_BAD_METHOD;
	if (strcmp(path, "/readyz") == 0)
		return get ? HK_READYZ : HK_BAD_METHOD;
	if (strcmp(path, "/metrics") == 0)
		return get ? HK_METRICS : HK_BAD_METHOD;
	if (strncmp(path, HTTP_CONNECT_PREFIX, strlen(HTTP_CONNECT_PREFIX)) == 0)
		return strcmp(method, "POST") == 0 ? HK_CONNECT : HK_BAD_METHOD;
	if (strcmp(path, HTTP_SSE_PATH) == 0)
		return strcmp(method, "GET") == 0 ? HK_SSE : HK_BAD_METHOD;
	if (strcmp(path, HTTP_EVENTS_PATH) == 0)
		return strcmp(method, "POST") == 0 ? HK_EVENTS_POST : HK_BAD_METHOD;
	switch (rest_match_route(rest_routes, rest_n_routes, method, path, rm)) {
	case 200:
		return HK_REST;
	case 405:
		return HK_BAD_METHOD;
	default:
		return HK_NOT_FOUND;
	}
}

/* The trace id of a request: the header's, else "trace-http-<16 hex>". A
 * Connect call passes an invalid one on (cut to what the dispatcher still
 * refuses as too long), so that it is refused as on the RPC path; the other
 * routes answer anyway, with a fresh one. */
static void http_trace_of(struct http_req *r)
{
	const char *h = http_header(r->r_conn, "X-Trace-ID");
	char fresh[32];

	if (h != NULL && h[0] != '\0' && (r->r_kind == HK_CONNECT || rpc_trace_id_valid(h))) {
		snprintf(r->r_trace, sizeof(r->r_trace), "%s", h);
		return;
	}
	rpc_make_trace_id(fresh, sizeof(fresh));
	snprintf(r->r_trace, sizeof(r->r_trace), "trace-http-%s", fresh + strlen("trace-"));
}

/* The Connect call's headers: codec, protocol version, timeout, encoding,
 * length. Answers r itself when one of them rules the call out. */
static void http_connect_headers(struct http_server *s, struct http_req *r)
{
	struct MHD_Connection *c = r->r_conn;
	const char *v;

	r->r_rpc_method = r->r_path;
	r->r_md = rpc_dispatcher_method(s->s_d, r->r_path);
	r->r_api_key = xstrdup(connect_api_key(http_header(c, "Authorization"), http_header(c, "X-API-Key")));
	if ((v = http_header(c, "X-Request-ID")) != NULL)
		r->r_request_id = xstrndup(v, 200); /* the dispatcher refuses one over 128 */
	r->r_streams = rpc_dispatcher_streams(s->s_d, r->r_path);
	v = http_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	r->r_codec = r->r_streams ? connect_stream_codec_of(v) : connect_codec_of(v);
	if (r->r_codec == CONNECT_CODEC_UNKNOWN) {
		http_answer_error(r, 415, "MALFORMED_REQUEST",
				  r->r_streams
					  ? "Content-Type must be application/connect+proto or application/connect+json"
					  : "Content-Type must be application/proto or application/json");
		r->r_accept_post = 1;
		return;
	}
	if ((v = http_header(c, "Connect-Protocol-Version")) != NULL && strcmp(v, "1") != 0) {
		http_answer_error(r, 400, "MALFORMED_REQUEST", "Connect-Protocol-Version must be 1");
		return;
	}
	if ((v = http_header(c, "Connect-Timeout-Ms")) != NULL && connect_parse_timeout(v, &r->r_timeout_ms) != 0) {
		http_answer_error(r, 400, "MALFORMED_REQUEST",
				  "Connect-Timeout-Ms must be a positive whole number of at most 10 digits");
		return;
	}
	if ((v = http_header(c, MHD_HTTP_HEADER_CONTENT_ENCODING)) != NULL && strcasecmp(v, "identity") != 0) {
		http_answer_error(r, 400, "MALFORMED_REQUEST", "Content-Encoding must be identity (no compression)");
		return;
	}
	if ((v = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH)) != NULL &&
	    strtoull(v, NULL, 10) > s->s_opts.body_max) {
		http_answer_error(r, 413, "MESSAGE_TOO_LARGE", "the body is over %zu bytes", s->s_opts.body_max);
		return;
	}
}

static enum MHD_Result http_rest_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	rest_call_query(cls, key, value);
	return MHD_YES;
}

/* A REST call's route, query and headers (the key, a request id, the
 * length). */
static void http_rest_headers(struct http_server *s, struct http_req *r, const struct rest_match *rm)
{
	struct MHD_Connection *c = r->r_conn;
	const char *v;

	r->r_rest = rest_call_new(rm);
	r->r_rpc_method = rest_call_rpc(r->r_rest);
	r->r_md = rpc_dispatcher_method(s->s_d, r->r_rpc_method);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, http_rest_query, r->r_rest);
	r->r_api_key = xstrdup(connect_api_key(http_header(c, "Authorization"), http_header(c, "X-API-Key")));
	if ((v = http_header(c, "X-Request-ID")) != NULL)
		r->r_request_id = xstrndup(v, 200);
	if ((v = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH)) != NULL && strtoull(v, NULL, 10) > s->s_opts.body_max)
		http_answer_error(r, 413, "MESSAGE_TOO_LARGE", "the body is over %zu bytes", s->s_opts.body_max);
}

/* The SSE route's query and Last-Event-ID, checked on the first call: a
 * bad one is answered at once (422). */
static void http_sse_query(struct http_req *r)
{
	struct MHD_Connection *c = r->r_conn;
	struct sse_query q = {
		.q_project_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "project_id"),
		.q_last_event_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "last_event_id"),
		.q_replay_last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "replay_last"),
		.q_max_events = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "max_events"),
		.q_batch_size = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "batch_size"),
		.q_poll_interval_ms = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "poll_interval_ms"),
		.q_heartbeat_seconds = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "heartbeat_seconds"),
		.q_header_last_event_id = http_header(c, "Last-Event-ID"),
	};
	char *err = NULL;
	int status = sse_parse(&q, &r->r_sse, &err);

	r->r_api_key = xstrdup(connect_api_key(http_header(c, "Authorization"), http_header(c, "X-API-Key")));
	if (status != 0) {
		http_answer_json(r, status, err);
		free(err);
	}
}

/* The first call for a request: route, headers, early answers. */
static struct http_req *http_begin(struct http_server *s, struct MHD_Connection *c, const char *url, const char *method)
{
	struct http_req *r = xcalloc(1, sizeof(*r));
	struct rest_match rm = {.m_status = 404};
	const char *why;

	atomic_fetch_add(&s->s_active, 1);
	r->r_srv = s;
	r->r_conn = c;
	r->r_t0 = clock_mono_ms();
	snprintf(r->r_method, sizeof(r->r_method), "%s", method);
	r->r_path = xstrdup(url);
	http_peer_name(c, r->r_peer, sizeof(r->r_peer));
	r->r_kind = http_route(method, url, &rm);
	http_trace_of(r);
	if (http_header_bytes(c, method, url) > HTTP_HEADER_MAX) {
		http_answer_json(r, 431, "{\"detail\":\"Request Header Fields Too Large\"}");
		return r;
	}
	if ((why = http_framing_problem(c)) != NULL) {
		http_answer_error(r, 400, "MALFORMED_REQUEST", "the request has %s", why);
		r->r_close = 1;
		return r;
	}
	switch (r->r_kind) {
	case HK_NOT_FOUND:
		http_answer_json(r, 404, "{\"detail\":\"Not Found\"}");
		break;
	case HK_BAD_METHOD:
		http_answer_json(r, 405, "{\"detail\":\"Method Not Allowed\"}");
		r->r_allow = strncmp(url, HTTP_CONNECT_PREFIX, strlen(HTTP_CONNECT_PREFIX)) == 0 ||
					     strcmp(url, HTTP_EVENTS_PATH) == 0
				     ? "POST"
			     : strcmp(url, HTTP_SSE_PATH) == 0 ? "GET"
							       : "GET, HEAD";
		if (rm.m_status == 405)
			r->r_allow = strcpy(r->r_allow_buf, rm.m_allow);
		break;
	case HK_HEALTHZ:
		r->r_rpc_method = "/beebeebrain.v1.HealthService/Check";
		break;
	case HK_READYZ:
		r->r_rpc_method = "/beebeebrain.v1.HealthService/Ready";
		break;
	case HK_CONNECT:
		http_connect_headers(s, r);
		break;
	case HK_REST:
		http_rest_headers(s, r, &rm);
		break;
	case HK_METRICS:
		if (s->s_opts.metrics == NULL)
			http_answer_json(r, 404, "{\"detail\":\"Not Found\"}");
		break;
	case HK_SSE:
		http_sse_query(r);
		break;
	case HK_EVENTS_POST:
		r->r_rpc_method = "/beebeebrain.v1.EventService/Publish";
		r->r_api_key = xstrdup(connect_api_key(http_header(c, "Authorization"), http_header(c, "X-API-Key")));
		break;
	}
	return r;
}

/* Appends a piece of the body; over the limit the rest is dropped. */
static void http_collect(struct http_server *s, struct http_req *r, const char *data, size_t len)
{
	if (r->r_answered || r->r_overflow)
		return;
	if (len > s->s_opts.body_max - r->r_len) {
		r->r_overflow = 1;
		return;
	}
	if (r->r_len + len > r->r_cap) {
		size_t cap = r->r_cap == 0 ? 4096 : r->r_cap;
		while (cap < r->r_len + len)
			cap *= 2;
		r->r_body = xrealloc(r->r_body, cap);
		r->r_cap = cap;
	}
	memcpy(r->r_body + r->r_len, data, len);
	r->r_len += len;
}

/* Whether a request announces a body (a Content-Length above 0 or chunks). */
static int http_has_body(struct MHD_Connection *c)
{
	const char *len = http_header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return http_header(c, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
	       (len != NULL && strspn(len, "0") != strlen(len));
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				   const char *version, const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	struct http_server *s = cls;
	struct http_req *r = *con_cls;

	(void)version;
	if (r == NULL) {
		r = http_begin(s, c, url, method);
		*con_cls = r;
		if (atomic_load(&s->s_stopping) && !r->r_answered)
			http_answer_error(r, 503, "SHUTTING_DOWN", "the server is stopping");
		/* Answered before a body is read: libmicrohttpd then closes the
		 * connection after the answer, so the body is never read (nor
		 * taken for the next request). Without a body the answer waits
		 * for the last call, and the connection stays open. */
		return r->r_answered && (http_has_body(c) || r->r_close) ? http_queue(r) : MHD_YES;
	}
	if (*upload_data_size > 0) {
		http_collect(s, r, upload_data, *upload_data_size);
		*upload_data_size = 0;
		/* A chunked body past the limit: nothing can be answered in the
		 * middle of a body with libmicrohttpd; close the connection. */
		return r->r_overflow ? MHD_NO : MHD_YES;
	}
	if (r->r_answered)
		return r->r_queued ? MHD_YES : http_queue(r);
	if (atomic_load(&s->s_stopping)) {
		http_answer_error(r, 503, "SHUTTING_DOWN", "the server is stopping");
		return http_queue(r);
	}
	MHD_suspend_connection(c);
	if (http_enqueue(s, r) != 0) {
		MHD_resume_connection(c);
		http_answer_error(r, 503, "SHUTTING_DOWN", "the server is stopping");
	}
	return MHD_YES;
}

/* ---- the access log and the end of a request */

/* The route label of beebeebrain_http_requests_total. */
static const char *http_kind_name(enum http_kind k)
{
	switch (k) {
	case HK_NOT_FOUND:
		return "not_found";
	case HK_BAD_METHOD:
		return "bad_method";
	case HK_HEALTHZ:
		return "healthz";
	case HK_READYZ:
		return "readyz";
	case HK_CONNECT:
		return "connect";
	case HK_METRICS:
		return "metrics";
	case HK_REST:
		return "rest";
	case HK_SSE:
		return "sse";
	case HK_EVENTS_POST:
		return "events_post";
	}
	return "other";
}

/* Counts a finished request by route, method (a name a client invents is
 * "other": labels come from bounded sets) and status (0: no answer went). */
static void http_count(struct http_server *s, const struct http_req *r)
{
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
	const char *method = "other";
	char status[16];

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(r->r_method, methods[i]) == 0)
			method = methods[i];
	snprintf(status, sizeof(status), "%d", r->r_queued ? r->r_status : 0);
	metrics_add(s->s_requests, (const char *const[]){http_kind_name(r->r_kind), method, status}, 1);
}

static void http_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_req *r = *con_cls;
	struct arena a;
	const char *path;
	size_t n;

	(void)c;
	if (r == NULL)
		return;
	*con_cls = NULL;
	arena_init(&a);
	n = strlen(r->r_path);
	path = utf8_repair(&a, r->r_path, n > 512 ? 512 : n, NULL);
	json_t *fields =
		json_pack("{s:s, s:s, s:i, s:I, s:I, s:s}", "method", r->r_method, "path", path, "status",
			  r->r_queued ? r->r_status : 0, "duration_ms", (json_int_t)(clock_mono_ms() - r->r_t0),
			  "bytes", (json_int_t)(r->r_queued ? r->r_resp_len : 0), "peer", r->r_peer);
	const char *trace = r->r_resp_trace[0] != '\0' ? r->r_resp_trace : r->r_trace;
	if (!rpc_trace_id_valid(trace))
		trace = "";
	log_fields_at(LOG_INFO, "http", &(struct log_ctx){.trace_id = trace}, fields, "%s %s %d%s", r->r_method, path,
		      r->r_queued ? r->r_status : 0,
		      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed before the answer)");
	arena_reset(&a);
	http_count(s, r);
	free(r->r_path);
	free(r->r_api_key);
	free(r->r_request_id);
	free(r->r_body);
	free(r->r_resp);
	rest_call_free(r->r_rest);
	if (r->r_stream != NULL)
		MHD_destroy_response(r->r_stream);
	free(r);
	atomic_fetch_sub(&s->s_active, 1);
}

/* Decodes %HH in the path and the query, except that a path or a parameter
 * holding %00 is left as sent: decoded, the NUL would end the C string
 * early and "/api/v1/tasks/1%00/anything" would be taken for task 1. Left
 * as sent it matches no route and is no valid value. */
static size_t http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	if (strstr(s, "%00") != NULL)
		return strlen(s);
	return MHD_http_unescape(s);
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_warn("http", "%s", line);
}

/* ---- start and stop */

static int http_listen(struct http_server *s, const char *url, bbb_status *st)
{
	char host[256], port[8], why[128];
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *ai = NULL;
	struct MHD_Daemon *d;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int rv, tls;

	if (http_url_split(url, host, sizeof(host), port, sizeof(port), &tls, why, sizeof(why)) != 0)
		return status_violation(st, "--http", "%s %s", url, why);
	if (tls && (s->s_opts.tls_cert_pem == NULL || s->s_opts.tls_key_pem == NULL))
		return status_violation(st, "--tls-cert", "is not set: the listener %s needs --tls-cert and --tls-key",
					url);
	if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return status_fail(st, "VALIDATION_ERROR", "cannot listen on %s: libmicrohttpd was built without TLS",
				   url);
	if ((rv = getaddrinfo(host, port, &hints, &ai)) != 0)
		return status_fail(st, "VALIDATION_ERROR", "cannot listen on %s: %s", url, gai_strerror(rv));
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (tls)
		flags |= MHD_USE_TLS;
	/* The key and certificate only for https://; an empty item ends the list. */
	struct MHD_OptionItem tls_opts[] = {
		{tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)s->s_opts.tls_key_pem},
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)s->s_opts.tls_cert_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	/* The logger first: libmicrohttpd logs the options after it through it. */
	d = MHD_start_daemon(flags, 0, NULL, NULL, http_access, s, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
			     MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
			     (unsigned)HTTP_CONNECTIONS_MAX, MHD_OPTION_CONNECTION_TIMEOUT,
			     (unsigned)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
			     MHD_OPTION_NOTIFY_COMPLETED, http_completed, s, MHD_OPTION_UNESCAPE_CALLBACK,
			     http_unescape, NULL, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d == NULL && tls)
		return status_fail(st, "VALIDATION_ERROR",
				   "cannot listen on %s: the address is taken, or --tls-cert and --tls-key are not a "
				   "certificate and its key (see the log)",
				   url);
	if (d == NULL)
		return status_fail(st, "VALIDATION_ERROR", "cannot listen on %s: %s", url, strerror(errno));
	s->s_daemons[s->s_n_daemons++] = d;
	return 0;
}

/* Closes this listener's place in the pool: the workers run its queued
 * calls, the waiter answers its deferred ones, and no call enters any more. */
static void http_join(struct http_server *s)
{
	stream_hub_quiesce(s->s_hub);
	work_source_drain(s->s_opts.pool, &s->s_src);
}

static void http_release(struct http_server *s)
{
	for (size_t i = 0; i < s->s_n_daemons; i++)
		MHD_stop_daemon(s->s_daemons[i]);
	/* After the daemons: their responses of streams point into the hub. */
	stream_hub_free(s->s_hub);
	if (s->s_opts.worker_fini != NULL && s->s_hub_state != NULL)
		s->s_opts.worker_fini(s->s_hub_state);
	free(s->s_daemons);
	free(s);
}

int http_server_start(struct http_server **out, const struct http_server_options *opts, struct rpc_dispatcher *d,
		      bbb_status *st)
{
	struct http_server *s = xcalloc(1, sizeof(*s));

	s->s_opts = *opts;
	s->s_d = d;
	s->s_requests = metrics_family(
		metrics_default(),
		&(struct metrics_spec){
			METRICS_COUNTER, "beebeebrain_http_requests_total",
			"HTTP requests finished, by route (connect, healthz, readyz, metrics, not_found, "
			"bad_method), method and status (0: the connection closed before an answer).",
			(const char *const[]){"route", "method", "status"}, 3, NULL, 0});
	work_source_init(&s->s_src, 0, 0);
	s->s_daemons = xcalloc(opts->n_urls > 0 ? opts->n_urls : 1, sizeof(*s->s_daemons));
	if (opts->events_read != NULL &&
	    ((opts->worker_init != NULL && opts->worker_init(opts->env, &s->s_hub_state, st) != 0) ||
	     stream_hub_start(&s->s_hub, opts->events_read, s->s_hub_state, opts->events_thread, st) != 0))
		goto fail;
	for (size_t i = 0; i < opts->n_urls; i++)
		if (http_listen(s, opts->urls[i], st) != 0)
			goto fail;
	*out = s;
	return 0;
fail:
	atomic_store(&s->s_stopping, 1);
	for (size_t i = 0; i < s->s_n_daemons; i++)
		MHD_stop_daemon(s->s_daemons[i]);
	s->s_n_daemons = 0;
	http_join(s);
	http_release(s);
	return -1;
}

void http_server_quiesce(struct http_server *s)
{
	int64_t until;

	if (s == NULL)
		return;
	atomic_store(&s->s_stopping, 1);
	for (size_t i = 0; i < s->s_n_daemons; i++) {
		MHD_socket fd = MHD_quiesce_daemon(s->s_daemons[i]);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	http_join(s);
	/* Every request is answered now; give the answers time to go out. */
	until = clock_mono_ms() + HTTP_DRAIN_MS;
	while (atomic_load(&s->s_active) > 0 && clock_mono_ms() < until) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

void http_server_close(struct http_server *s)
{
	if (s != NULL)
		http_release(s);
}
