/*
 * The HTTP listener: libmicrohttpd in front of the RPC dispatcher, so that
 * every call over HTTP goes through the same handlers, validation, API key
 * check, audit, reply cache and deadlines as a call over nng.
 *
 * Routes (one router, http_route in http_server.c):
 *   POST /beebeebrain.v1.<Service>/<Method>   a Connect unary call (connect.h)
 *   POST /beebeebrain.v1.EventService/Subscribe  a Connect server stream (stream.h)
 *   GET  /api/v1/events/stream                the original API's SSE stream (sse.h)
 *   POST /api/v1/events                       the original API's event post (EventService/Publish)
 *   GET  /healthz, /readyz                    HealthService Check and Ready
 *                                             (http_ops.h), open without a key
 *   /api/v1/...                               the original backend's REST
 *                                             routes (rest.h: a route table
 *                                             onto the same RPC methods)
 *   GET  /metrics                             the Prometheus text of the
 *                                             options' `metrics` (rendered on a
 *                                             worker), open without a key
 *   anything else                             404 {"detail":"Not Found"}
 *
 * Threads. Each URL gets one libmicrohttpd daemon with one epoll thread that
 * does all socket I/O of its connections: a slow client costs a connection
 * and a few KiB, never a thread. A request whose body is complete is handed
 * to the worker pool the RPC transport shares (rpc/work_pool.h) and its
 * connection suspended; the pool's workers (each with its own state from
 * worker_init: the SQLite read connection) call the dispatcher and resume
 * the connection with the response. A call the handler defers (RunTask with
 * wait) holds no worker either: the pool's waiter polls it after every
 * commit (http_server_poke) and every 250 ms, as for the nng transport.
 *
 * Limits: a body over body_max is refused with 413 (before it is read when
 * Content-Length says so; a chunked body that grows past it closes the
 * connection); the request line and headers over 16 KiB get 431; at most
 * 1024 connections per URL (past that the listener stops accepting: new
 * connections wait in the kernel's backlog until one closes); a connection
 * idle for 60 s is closed. `serve` raises its soft limit of open files to
 * the hard one at start, so that the descriptors last.
 * A request whose body framing is ambiguous (two Content-Lengths, one with
 * Transfer-Encoding, a Transfer-Encoding other than chunked) gets 400 and
 * the connection closed; %00 in the path or the query is left undecoded.
 *
 * Every response carries X-Trace-ID, and every request ends with one access
 * log line (logger "http": method, path, status, duration_ms, bytes,
 * trace_id, peer).
 *
 * Event streams (SSE and Connect Subscribe) are checked by the dispatcher on
 * a worker like any call, then served by one hub, a job on the events thread
 * (stream.h).
 *
 * Stop order: http_server_quiesce stops accepting, ends the event streams
 * (SSE closes, Connect gets unavailable), answers new requests on
 * open connections 503 SHUTTING_DOWN, lets the workers finish its queued
 * calls, the waiter answer its deferred calls, and the responses 1 s to go
 * out (the pool goes on for the other listener); then
 * http_server_close stops the daemons and frees everything.
 */
#ifndef BBB_HTTP_SERVER_H
#define BBB_HTTP_SERVER_H

#include <stddef.h>

#include <beebeebrain/status.h>

#include "common/dbuf.h"
#include "http/stream.h"
#include "rpc/dispatch.h"
#include "rpc/work_pool.h"

#define HTTP_HEADER_MAX ((size_t)16 << 10)
#define HTTP_CONNECTIONS_MAX 1024
#define HTTP_IDLE_TIMEOUT_S 60

struct http_server_options {
	const char *const *urls; /* http://HOST:PORT or https://HOST:PORT (http_url_check) */
	size_t n_urls;
	/* PEM certificate chain and unencrypted key of the https:// URLs
	 * (NULL: none; an https:// URL then fails to start). They must outlive
	 * the server. */
	const char *tls_cert_pem;
	const char *tls_key_pem;
	/* The workers and the waiter of deferred calls; shared, it must
	 * outlive the server. */
	struct work_pool *pool;
	size_t body_max; /* request body bytes */
	/* The state of the event streams' hub thread, as for the RPC
	 * transport (rpc_server_options). */
	int (*worker_init)(void *env, void **worker, bbb_status *st);
	void (*worker_fini)(void *worker);
	void *env;
	/* GET /metrics: appends the exposition text to out, on a worker with
	 * its state. NULL: /metrics is not served (404). Every request is also
	 * counted in beebeebrain_http_requests_total (docs/metrics.md). */
	void (*metrics)(void *env, void *worker, struct dbuf *out);
	/* The event streams' source (stream.h, docs/events.md): called with a
	 * state from worker_init. NULL: the stream routes answer 503. */
	stream_read_fn events_read;
	struct job_thread *events_thread; /* the hub's; it must outlive the server */
	int (*events_start)(void *worker, int n, const char *type_prefix, int64_t project_id, int64_t *after_id,
			    bbb_status *st);
};

struct http_server;

/* Checks a listen URL: "http://HOST:PORT" or "https://HOST:PORT" with an optional trailing "/",
 * HOST an IPv4 address, a name, or an IPv6 address in brackets, PORT
 * 0..65535. 0, or -1 with what is wrong in why (n bytes). */
int http_url_check(const char *url, char *why, size_t n);

/* Starts the event streams' hub and one listener per URL. 0, or -1 with st
 * set (VALIDATION_ERROR when a URL cannot be listened on) and nothing left
 * running. The dispatcher must outlive the server. */
int http_server_start(struct http_server **out, const struct http_server_options *opts, struct rpc_dispatcher *d,
		      bbb_status *st);
/* Event streams (SSE and Connect) open right now; 0 for NULL. Any thread. */
size_t http_server_streams(struct http_server *s);
/* Something committed: deferred calls and event streams look again. NULL:
 * nothing. */
void http_server_poke(struct http_server *s);
/* Stops serving (see above). NULL: nothing. */
void http_server_quiesce(struct http_server *s);
/* Stops the listeners and frees the server (after http_server_quiesce).
 * NULL: nothing. */
void http_server_close(struct http_server *s);

#endif
