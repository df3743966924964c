/*
 * The HTTP loop: ONE thread running a libcurl multi handle that drives every
 * provider call of the server, so hundreds of calls in flight cost sockets,
 * not threads (docs/runtime.md).
 *
 *     struct http_loop *loop;
 *     http_loop_start(NULL, &loop, &st);
 *     uint64_t id = http_loop_submit(loop, &req, on_done, ctx, &st);  any thread
 *     http_loop_cancel(loop, id);                                      any thread
 *     http_loop_stop(loop);     cancels what is left, joins, frees
 *
 * Life of a call. http_loop_submit copies everything in the request (URL,
 * headers, body) and queues the call under a mutex, then wakes the loop
 * (curl_multi_wakeup). The loop thread adds it to the multi handle, and
 * calls `done` exactly once when it ends, whatever the ending: a response
 * (any HTTP status), a transport failure, its own timeout, a cancel, or the
 * loop being stopped. Nothing happens to a call after its callback.
 *
 * Threads:
 *   - submit and cancel may be called from any thread, also from inside a
 *     callback. stop may be called from any thread except the loop's own (from
 *     a callback it fails with -1).
 *   - Callbacks run on the loop thread, one at a time, in no promised order.
 *     A callback holds up every other call while it runs: it should copy or
 *     parse what it needs and hand the rest to its own thread, never block on
 *     I/O, a lock held around submit/cancel elsewhere is fine (the loop holds
 *     no lock while calling back).
 *
 * Ownership:
 *   - struct http_request and everything it points to belong to the caller
 *     and are only read during http_loop_submit: they may be freed when it
 *     returns.
 *   - `arg` is the caller's; the loop only passes it back. It must stay valid
 *     until the callback has run (the callback is where to free it).
 *   - struct http_response and the strings in it (body, retry_after, error)
 *     belong to the loop and are valid only while the callback runs; copy what
 *     must outlive it. body is NUL-terminated (body[body_len] == '\0').
 *
 * Cancel semantics: http_loop_cancel asks the loop to abort the call; if the
 * call is still queued or in flight it ends with HTTP_OUTCOME_CANCELLED (the
 * connection is closed, the server may or may not have seen the request);
 * if it already ended (or the id is unknown) nothing happens. Either way the
 * callback runs exactly once, so the caller learns which by the outcome.
 *
 * Connections are kept alive and reused between calls to the same host (and
 * multiplexed over HTTP/2 where the server offers it). One libcurl behaviour
 * follows from reuse: when a reused connection turns out to be dead before a
 * single byte of the response came back (the server closed it while idle),
 * libcurl sends the request once more on a new connection, inside the same
 * call. The server answered nothing on the dead connection, but it may have
 * read the request; a caller that must never risk a second delivery sets
 * fresh_connection (a new connection, not reused afterwards).
 *
 * DNS: Debian's libcurl resolves names on short-lived helper threads (the
 * threaded resolver); an IP-literal URL resolves without one, and the multi
 * handle caches names for 60 s, so a busy provider costs no steady threads.
 */
#ifndef BBB_HTTP_LOOP_H
#define BBB_HTTP_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

enum http_outcome {
	HTTP_OUTCOME_OK = 0, /* a complete response arrived; see status */
	HTTP_OUTCOME_TIMEOUT, /* the call's timeout_ms passed */
	HTTP_OUTCOME_CONNECTION_FAILED, /* resolve, connect, TLS, reset, empty reply, ... */
	HTTP_OUTCOME_CANCELLED, /* http_loop_cancel, or the loop was stopped */
	HTTP_OUTCOME_TOO_LARGE, /* the body passed max_response_bytes; the call was aborted */
	HTTP_OUTCOME_LOCAL_ERROR, /* our side: malformed URL, unsupported scheme, out of memory */
};

struct http_request {
	const char *url; /* http:// or https:// only */
	const char *const *headers; /* "Name: value", n_headers of them */
	size_t n_headers;
	const char *body; /* NULL: GET; else POST of body_len bytes */
	size_t body_len;
	long timeout_ms; /* whole call, connect included; <= 0: 90000 */
	size_t max_response_bytes; /* 0: 8 MiB */
	int fresh_connection; /* 1: a new connection, closed after this call (see "Connections") */
};

struct http_response {
	uint64_t id; /* what submit returned */
	enum http_outcome outcome;
	long status; /* HTTP status when outcome is OK, else 0 */
	const char *body; /* never NULL; "" when nothing arrived */
	size_t body_len;
	const char *retry_after; /* the Retry-After header's value, or NULL */
	const char *error; /* curl's words when outcome is not OK, else "" */
	int64_t elapsed_ms; /* from the call being added to the loop to its end */
};

typedef void (*http_done_fn)(const struct http_response *resp, void *arg);

struct http_loop_options {
	const char *user_agent; /* NULL: "beebeebrain/<version>" */
};

struct http_loop;

/* Starts the loop thread. opts may be NULL. Returns 0, or -1 with *st set
 * (INTERNAL_ERROR) and *out NULL. */
int http_loop_start(const struct http_loop_options *opts, struct http_loop **out, bbb_status *st);

/* Cancels every queued and in-flight call (their callbacks run with
 * HTTP_OUTCOME_CANCELLED, on the loop thread), joins the thread and frees
 * the loop. Returns 0, or -1 (nothing done) when called on the loop thread. */
int http_loop_stop(struct http_loop *loop);

/* Queues a call. Returns its id (> 0), or 0 with *st set: SHUTTING_DOWN once
 * stop has begun, VALIDATION_ERROR for a request without URL or callback,
 * INTERNAL_ERROR when curl cannot make a handle. On 0 the callback will never
 * run. */
uint64_t http_loop_submit(struct http_loop *loop, const struct http_request *req, http_done_fn done, void *arg,
			  bbb_status *st);

/* Asks the loop to abort call `id` (semantics above). Never blocks on the call. */
void http_loop_cancel(struct http_loop *loop, uint64_t id);

/* Calls submitted and not yet called back (a snapshot). */
size_t http_loop_pending(const struct http_loop *loop);

/* "ok", "timeout", "connection_failed", "cancelled", "too_large", "local_error". */
const char *http_outcome_name(enum http_outcome o);

#endif
