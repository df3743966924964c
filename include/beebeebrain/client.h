/*
 * BeeBeeBrain C client library: the whole public API of a client in four
 * headers. This one (client, calls, per-call options, enum names), its
 * generated part <beebeebrain/client_api.h> (one typed function per RPC, and
 * the enum helpers), <beebeebrain/status.h> (errors as values) and
 * <beebeebrain/subscriber.h> (lossless events). Link with pkg-config
 * `beebeebrain-client` or CMake `find_package(beebeebrain CONFIG)` and the
 * target beebeebrain::client (docs/c-client.md).
 *
 * A bbb_client holds one nng req socket dialled to a server's RPC URL. Every
 * RPC method has a typed function, generated from the protobuf-c service
 * descriptors into <beebeebrain/client_api.h>:
 *
 *     int bbb_<service>_<method>(bbb_client *c, const <Request> *req,
 *                                <Response> **resp, bbb_status *st);
 *     int bbb_<service>_<method>_ex(bbb_client *c, const <Request> *req,
 *                                   <Response> **resp,
 *                                   const bbb_call_opts *opts, bbb_status *st);
 *
 * e.g. bbb_task_get_task(c, &req, &resp, &st). All of them go through
 * bbb_call_ex(), which wraps the request in an RpcRequest envelope, sends it
 * and unpacks the RpcResponse.
 *
 * Return value: 0 on success (*resp set, free it with bbb_free()), -1 on
 * failure (*resp NULL). *st is filled either way: on success code 0 and the
 * trace id. A failure is either an answer of the server (st->code,
 * st->reason, st->message and st->violations: docs/protocol.md, Errors) or a local
 * one:
 *   UNAVAILABLE        SERVER_UNREACHABLE  no server at open; no connection to
 *                                          send on within the timeout (nothing
 *                                          was sent); or the connection dropped
 *                                          while waiting for the reply (the
 *                                          request is not sent again: no call
 *                                          runs twice by accident)
 *   DEADLINE_EXCEEDED  DEADLINE_EXCEEDED   sent, but no reply within the timeout
 *                                          (plus a short grace for the server's
 *                                          own DEADLINE_EXCEEDED answer)
 *   RESOURCE_EXHAUSTED MESSAGE_TOO_LARGE   the RpcRequest envelope would be over
 *                                          BBB_REQUEST_MAX_BYTES (nothing was
 *                                          sent: the server would close the
 *                                          connection without an answer)
 *   INVALID_ARGUMENT   MALFORMED_REQUEST   req is not of the method's input type
 *   INVALID_ARGUMENT   VALIDATION_ERROR    opts->request_id is over
 *                                          BBB_REQUEST_ID_MAX characters (one
 *                                          violation, field "request_id")
 *   UNIMPLEMENTED      UNKNOWN_METHOD      no such method in the service
 *   INTERNAL           MALFORMED_RESPONSE  the reply does not decode
 * Branch on st->code and st->reason, never on st->message. st may be NULL
 * everywhere (the details are then lost).
 *
 * Retrying: after UNAVAILABLE (the connection dropped while waiting) or
 * DEADLINE_EXCEEDED the outcome of a write is unknown: it may have run. Send
 * the same call again with the same opts->request_id (make one with
 * bbb_request_id_new() before the first attempt): the server answers a repeat
 * of a mutating call from its reply cache (10 minutes) instead of running it
 * again. Without a request_id every call gets a fresh random one, so it is
 * never deduplicated.
 *
 * Pipelining: bbb_call_async() starts a call and returns at once; a callback
 * gets the answer. Many calls may be in flight on one client (one connection),
 * each on an nng context of its own; bbb_client_drain() waits for them all.
 *
 * Threads: one bbb_client may be used by any number of threads at once; each
 * call uses its own nng context, and a call blocks only its calling thread.
 * Only bbb_client_close must not overlap any other use of the client (the
 * callbacks of asynchronous calls still in flight excepted: close waits for
 * them). No function here keeps a pointer to its arguments after it returns.
 *
 * Memory: responses are protobuf-c messages allocated by the library and owned
 * by the caller, freed with bbb_free(). Strings passed in stay the caller's.
 */
#ifndef BEEBEEBRAIN_CLIENT_H
#define BEEBEEBRAIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <beebeebrain/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when st reports UNAVAILABLE SERVER_UNREACHABLE: no server, or the
 * connection dropped. Any thread; st may be NULL (false). */
int bbb_status_unreachable(const bbb_status *st);

/* An open client: one connection to a server, shared by threads. */
typedef struct bbb_client bbb_client;

struct bbb_client_options {
	/* NULL: $BEEBEEBRAIN_RPC_URL, else tcp://127.0.0.1:7420. A tls+tcp:// or
	 * wss:// URL needs $BEEBEEBRAIN_TLS_CA, the PEM file of the authority
	 * that signed the server's certificate (subscribers too). */
	const char *url;
	const char *api_key; /* NULL: $BEEBEEBRAIN_API_KEY, else none */
	uint32_t timeout_ms; /* per call, client side and sent to the server; 0: 30000 */
};

/* Longest request_id the server accepts, in characters. */
#define BBB_REQUEST_ID_MAX 128
/* Length of an id made by bbb_request_id_new() (32 hex digits). */
#define BBB_REQUEST_ID_LEN 32

/* Options of one call; every field 0/NULL means "as the client is set".
 * Zero-initialise it (`bbb_call_opts o = {0};`) and set what you need: fields
 * may be added at the end in later versions. */
typedef struct bbb_call_opts {
	/* The call's idempotency key: a repeat of a mutating call with the same
	 * method and request_id within the server's reply-cache window gets the
	 * first call's answer instead of running again. Any text of 1 to
	 * BBB_REQUEST_ID_MAX characters, unique per logical operation. NULL or
	 * "": a fresh random id (the call is never deduplicated). */
	const char *request_id;
	/* Deadline of this call in ms (client side and sent to the server).
	 * 0: the client's timeout (bbb_client_set_timeout). */
	uint32_t timeout_ms;
	/* Trace id of this call, at most 64 characters of [A-Za-z0-9._:-]
	 * (others are refused by the server with a violation on trace_id;
	 * longer ones are cut). NULL: the client's (bbb_client_set_trace_id). */
	const char *trace_id;
} bbb_call_opts;

/* Opens a client and dials the server once, synchronously. opts may be NULL
 * (every default). Returns the client, to be closed with bbb_client_close(),
 * or NULL with *st filled: UNAVAILABLE SERVER_UNREACHABLE when the server
 * cannot be reached or the URL is not valid (the message names the URL and
 * the cause), INTERNAL INTERNAL_ERROR when nng fails. Once connected, a lost
 * connection is redialled in the background. Any thread; the strings in opts
 * are copied. */
bbb_client *bbb_client_open(const struct bbb_client_options *opts, bbb_status *st);

/* Closes the connection and frees c (NULL is allowed). No synchronous call
 * may be in progress on c, in any thread, and c must not be used afterwards.
 * Asynchronous calls still in flight are not cancelled: close first refuses
 * new ones (CANCELLED CLIENT_CLOSED, also to callbacks that try to start
 * one), then waits until every call in flight has ended, answered or failed
 * at its deadline, and its callback has returned. With a server that does not
 * answer, that is up to the longest timeout in flight (plus 500 ms).
 * Responses already returned stay valid (they are the caller's). Never from
 * a callback of bbb_call_async (it would wait for itself). */
void bbb_client_close(bbb_client *c);

/* Changes the per-call timeout of later calls; 0 restores the default
 * (30000 ms). Any thread; calls already started keep their timeout. */
void bbb_client_set_timeout(bbb_client *c, uint32_t timeout_ms);

/* Sets the trace id sent with later calls (copied): at most 64 characters
 * of [A-Za-z0-9._:-] (the server refuses others with a violation on
 * trace_id; longer ones are cut here); NULL or "" lets the server make one.
 * The id the server used comes back in st->trace_id. Any thread. */
void bbb_client_set_trace_id(bbb_client *c, const char *trace_id);

/* The generic call under every typed function: calls `method`, the method's
 * short name within `service` ("GetTask"), with `req`, which must be a
 * message of the method's input type. opts may be NULL (bbb_call_opts).
 * Returns 0 with *resp a message of the method's output type, owned by the
 * caller and freed with bbb_free(); or -1 with *resp NULL and *st filled (the
 * errors at the top of this file). Any thread; blocks until the reply, the
 * timeout or a failure. */
int bbb_call_ex(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method,
		const ProtobufCMessage *req, ProtobufCMessage **resp, const bbb_call_opts *opts, bbb_status *st);

/* bbb_call_ex() with no options. */
int bbb_call(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, bbb_status *st);

/*
 * The end of an asynchronous call, called exactly once per bbb_call_async()
 * that returned 0: arg as given to it; st the outcome, as bbb_call_ex() would
 * have filled it (valid during the callback only; copy what you keep); resp
 * on code 0 a message of the method's output type, owned by the callback from
 * here on and freed with bbb_free() (it may be kept past the callback), NULL
 * otherwise.
 *
 * It runs on one of nng's threads; the callbacks of different calls may run
 * at the same time on different threads, in any order. Keep it short and never
 * block in it: the thread serves other calls' I/O, so a synchronous call or a
 * wait for another callback there can deadlock. It may start new calls with
 * bbb_call_async() (that is how a pipeline keeps itself full). It must not call
 * bbb_client_drain() or bbb_client_close().
 */
typedef void (*bbb_call_cb)(void *arg, const bbb_status *st, ProtobufCMessage *resp);

/*
 * Starts the call bbb_call_ex() would make (the same request envelope, options
 * and deadline) and returns without waiting for the reply; cb(arg, st, resp)
 * gets the answer. opts may be NULL. req is packed before this returns, so the
 * caller may reuse or free it at once.
 *
 * Returns 0 when the call has started: cb will be called exactly once, with
 * the server's answer or with one of the failures bbb_call_ex() reports
 * (UNAVAILABLE SERVER_UNREACHABLE, DEADLINE_EXCEEDED, INTERNAL
 * MALFORMED_RESPONSE). Returns -1 with *st filled when the call is refused
 * before anything is sent (cb is never called): MALFORMED_REQUEST,
 * UNKNOWN_METHOD, VALIDATION_ERROR on request_id, MESSAGE_TOO_LARGE,
 * INTERNAL_ERROR, or CANCELLED CLIENT_CLOSED once bbb_client_close() has
 * begun. st may be NULL.
 *
 * Each call in flight holds an nng context and aio of the client's; they are
 * reused by later calls and freed by bbb_client_close(), so a client keeps as
 * many as it ever had in flight at once. Any thread, callbacks included.
 */
int bbb_call_async(bbb_client *c, const ProtobufCServiceDescriptor *service, const char *method,
		   const ProtobufCMessage *req, const bbb_call_opts *opts, bbb_call_cb cb, void *arg, bbb_status *st);

/* Waits until every asynchronous call started on c, including those started by
 * callbacks meanwhile, has ended and its callback has returned. Each call has
 * its deadline, so this returns at the latest when the last one expires. Any
 * thread but a callback of bbb_call_async (it would wait for itself). */
void bbb_client_drain(bbb_client *c);

/* Writes a fresh random request id (BBB_REQUEST_ID_LEN hex digits and a NUL,
 * from the kernel's random source) into out, for a call that may be retried.
 * Returns 0, or -1 (out set to "") when no randomness is available. Any
 * thread. */
int bbb_request_id_new(char out[BBB_REQUEST_ID_LEN + 1]);

/* Frees a response returned by any call or by bbb_subscriber_next() (NULL is
 * allowed). Any thread. */
void bbb_free(void *resp);

/* Short name of an enum value, the text the CLI prints: "todo" for
 * TASK_STATUS_TODO of &beebeebrain__v1__task_status__descriptor,
 * "unspecified" for 0. Writes it into buf (n bytes, NUL included) and returns
 * buf; NULL when the enum has no such value or the name does not fit. The
 * generated bbb_<enum>_name() helpers of <beebeebrain/client_api.h> do the
 * same without a buffer. Any thread. */
const char *bbb_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n);

/* Parses an enum value from its short name in any case ("todo", "TODO") or
 * its full name ("TASK_STATUS_TODO"). Returns 0 with *value set, or -1 with
 * *value untouched for anything else, UNSPECIFIED included. Any thread. */
int bbb_enum_from_name(const ProtobufCEnumDescriptor *d, const char *name, int *value);

#ifdef __cplusplus
}
#endif

#include <beebeebrain/client_api.h>

#endif
