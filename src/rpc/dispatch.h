/*
 * Generic RPC dispatch: RpcRequest bytes in, RpcResponse bytes out.
 *
 * Services describe themselves with a table of handlers keyed by method name
 * and bound to their protobuf-c service descriptor. For each request the
 * dispatcher decodes the envelope, checks the API key, answers a repeated
 * request_id of a mutating method from the reply cache (its own, then the
 * one shared with other servers when there is one), finds the method in
 * the descriptor, unpacks the payload with the method's input descriptor,
 * allocates the output message, calls the handler and packs the result.
 * No per-method marshalling exists anywhere. The response of a mutating call
 * is redacted before it is packed (it may echo its request; what a read
 * returns was redacted when it was stored), and refused and mutating calls
 * are handed to the audit hooks.
 *
 * All memory of a call (request, response, strings) comes from the call's
 * arena and is released at once by the transport after the reply is sent.
 */
#ifndef BBB_DISPATCH_H
#define BBB_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include <beebeebrain/status.h>

#include "common/arena.h"

/* A deferred call's poll: fills *resp and returns 1 once the answer is ready
 * (with force = 1 it must fill the current state and return 1); 0 to wait.
 * Runs on the transport's waiter thread with its own `worker` state. */
typedef int (*rpc_poll_fn)(const void *arg, void *worker, struct arena *a, ProtobufCMessage *resp, int force,
			   bbb_status *st);

struct rpc_call {
	struct arena *c_arena;
	const char *c_method; /* full name "/beebeebrain.v1.TaskService/GetTask" */
	const char *c_trace_id; /* never NULL or empty */
	const char *c_peer; /* the caller's address ("127.0.0.1:50412", "ipc"); never NULL, "" unknown */
	int64_t c_deadline_ms; /* CLOCK_MONOTONIC ms; 0 = none */
	void *c_env; /* server-wide state given to rpc_dispatcher_new */
	void *c_worker; /* the worker's own state (its read connection) */
	rpc_poll_fn c_defer_fn; /* set by rpc_call_defer */
	const void *c_defer_arg;
	size_t c_defer_len;
	/* For the audit trail (docs/security.md): */
	const ProtobufCMessage *c_request; /* the decoded request, set before the handler runs */
	unsigned c_flags; /* the method's rpc_method_flags */
	int c_key_checked; /* 1: the call showed the configured API key; 0: no key is configured */
	int c_audited; /* 1 once its security.audit.allowed is written (services' write path) */
	int c_can_stream; /* 1: the transport streams the reply (rpc_dispatch_stream) */
};

/* Fills *resp (allocated and initialised, owned by the call's arena) from
 * *req. Returns 0, or -1 with *st set; on failure *resp is not sent. */
typedef int (*rpc_handler)(struct rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage *resp, bbb_status *st);

enum rpc_method_flags {
	RPC_READ = 0,
	RPC_MUTATES = 1 << 0, /* replies are cached by request_id */
	/* A server stream (Subscribe). Over a transport that cannot stream the
	 * dispatcher answers UNIMPLEMENTED STREAMING_NOT_SUPPORTED before the
	 * handler runs; over one that can (rpc_dispatch_stream) the handler only
	 * checks the request, and the transport does the streaming. */
	RPC_STREAMS = 1 << 1,
	/* A read that may wait for something other than its own read
	 * connection (Ready probes the writer with a write): a transport runs it
	 * where a thread may block, never on a thread that must not. */
	RPC_WAITS = 1 << 2,
};

struct rpc_method {
	const char *m_name; /* short name as in the .proto: "GetTask" */
	rpc_handler m_fn;
	unsigned m_flags;
};

struct rpc_service {
	const ProtobufCServiceDescriptor *s_desc;
	const struct rpc_method *s_methods;
	size_t s_n_methods;
	int s_public; /* callable without the API key (HealthService) */
};

/*
 * The audit trail's hooks (docs/security.md). denied: a call was refused for
 * its credentials or permissions (UNAUTHENTICATED or PERMISSION_DENIED; st
 * is the refusal). allowed: a mutating call succeeded and its handler wrote
 * no security.audit.allowed in its own transaction (c_audited is 0: a method
 * that changes no row, such as Backup). Both run on the thread that
 * dispatches the call (for a refused read, an nng thread that must not
 * block: the hooks only queue), before the reply is sent.
 */
typedef void (*rpc_denied_hook)(void *env, const struct rpc_call *call, const bbb_status *st);
typedef void (*rpc_allowed_hook)(void *env, struct rpc_call *call);

/*
 * A reply cache shared by several servers (services/reply_share.c: a table on
 * PostgreSQL), asked after a miss of the dispatcher's own in-memory cache, so
 * that copies of a call on one server still meet in memory first. All three
 * run on the thread that dispatches or answers the call, with its `worker`
 * state, and may block on the database.
 *
 * begin: MISS, this server now holds (method, request_id) and runs the call,
 * then put or abandon follows; HIT, *reply (malloc'd, the caller frees it)
 * and *len hold the reply another server stored; BUSY, another server's copy
 * still ran at wait_until (CLOCK_MONOTONIC ms); FAILED, st says why the
 * cache could not be asked (the call must not run). put stores the reply of
 * a call begun with MISS, abandon forgets one that did not run; their
 * failures are the hook's to log.
 */
/* How long a reply stays cached by request_id, and the longest a deferred
 * call waits before it is answered with the state of the moment. */
#define RPC_REPLY_CACHE_TTL_MS (10 * 60 * 1000)
#define RPC_DEFER_MAX_MS (10 * 60 * 1000)

enum rpc_shared_result { RPC_SHARED_MISS, RPC_SHARED_HIT, RPC_SHARED_BUSY, RPC_SHARED_FAILED };

struct rpc_shared_replies {
	enum rpc_shared_result (*sr_begin)(void *arg, void *worker, const char *method, const char *request_id,
					   int64_t wait_until, uint8_t **reply, size_t *len, bbb_status *st);
	void (*sr_put)(void *arg, void *worker, const char *method, const char *request_id, const uint8_t *reply,
		       size_t len);
	void (*sr_abandon)(void *arg, void *worker, const char *method, const char *request_id);
};

struct rpc_dispatcher;

/* `services` must outlive the dispatcher. A method declared in a descriptor
 * without a handler answers UNIMPLEMENTED. api_key NULL or "" disables auth. */
struct rpc_dispatcher *rpc_dispatcher_new(const struct rpc_service *const *services, size_t n_services,
					  const char *api_key, void *env);
void rpc_dispatcher_free(struct rpc_dispatcher *d);
void rpc_dispatcher_set_denied_hook(struct rpc_dispatcher *d, rpc_denied_hook hook);
void rpc_dispatcher_set_allowed_hook(struct rpc_dispatcher *d, rpc_allowed_hook hook);
/* Adds the shared reply cache (sr, which must outlive the dispatcher, and
 * its arg) behind the in-memory one. Before the first call; NULL: none (the
 * default: one server owns its SQLite file). */
void rpc_dispatcher_set_shared_replies(struct rpc_dispatcher *d, const struct rpc_shared_replies *sr, void *arg);

/* Handles one request from an unknown peer. The reply is written to *out
 * (malloc'd, caller frees). */
void rpc_dispatch(struct rpc_dispatcher *d, void *worker, const uint8_t *in, size_t in_len, uint8_t **out,
		  size_t *out_len);

/* A handler that cannot answer yet (RunTask with wait) calls this and
 * returns RPC_DEFERRED: no worker thread waits for the answer. The transport
 * polls `fn` (arg is copied, arg_len bytes) after every commit and at least
 * every 250 ms, and replies when it returns 1 or the call's deadline (10
 * minutes at most) passes; then it replies with the state at that time. */
#define RPC_DEFERRED 1
void rpc_call_defer(struct rpc_call *call, rpc_poll_fn fn, const void *arg, size_t arg_len);

struct rpc_deferred;

/* As rpc_dispatch, from `peer` (NULL or "" when unknown; see rpc_call), and
 * a deferred call sets *deferred (and *out NULL): the caller keeps the
 * request's reply slot and polls with rpc_deferred_poll. */
void rpc_dispatch_deferrable(struct rpc_dispatcher *d, void *worker, const char *peer, const uint8_t *in, size_t in_len,
			     uint8_t **out, size_t *out_len, struct rpc_deferred **deferred);
/* For a transport that carries the payload in another encoding (HTTP with a
 * JSON body) and could not turn it into the packed message (`in` is then the
 * envelope with an empty payload), or that refuses a request before it runs
 * (nng's when too many bytes wait for a worker). It goes through the checks
 * every request does before its payload is read (trace id, method, API key,
 * with their audit), and a request that passes them is answered with *why
 * (not cached: nothing ran). Needs no worker state. The reply is written to
 * *out (malloc'd, caller frees). */
void rpc_dispatch_undecodable(struct rpc_dispatcher *d, const char *peer, const uint8_t *in, size_t in_len,
			      const bbb_status *why, uint8_t **out, size_t *out_len);
/* As rpc_dispatch_deferrable, for a transport that streams the reply (HTTP):
 * a method with RPC_STREAMS runs its handler (which checks the request and
 * answers its first, empty-or-heartbeat reply), and an OK reply tells the
 * transport to start streaming. Other methods are dispatched as usual. The
 * reply is written to *out (malloc'd, caller frees). */
void rpc_dispatch_stream(struct rpc_dispatcher *d, void *worker, const char *peer, const uint8_t *in, size_t in_len,
			 uint8_t **out, size_t *out_len);
/* 1 and the reply in *out (malloc'd) when it is time to answer (force: now). */
int rpc_deferred_poll(struct rpc_deferred *df, void *worker, int force, uint8_t **out, size_t *out_len);
void rpc_deferred_free(struct rpc_deferred *df);

/* True when the call's deadline has passed. */
int rpc_call_expired(const struct rpc_call *call);

/* A fresh trace id "trace-<16 hex>" into buf (>= 23 bytes). */
void rpc_make_trace_id(char *buf, size_t n);

/* True when t is a trace id a client may send: 1..64 characters of
 * [A-Za-z0-9._:-] (a longer or other one is refused with VALIDATION_ERROR). */
int rpc_trace_id_valid(const char *t);

/* The descriptor of a method the dispatcher serves, by its full name
 * ("/beebeebrain.v1.TaskService/GetTask"); NULL when no service of the
 * dispatcher declares it. For transports that carry messages in another
 * encoding than the packed one (HTTP with JSON bodies). */
const ProtobufCMethodDescriptor *rpc_dispatcher_method(struct rpc_dispatcher *d, const char *full);
/* 1 when that method is a server stream (RPC_STREAMS). */
int rpc_dispatcher_streams(struct rpc_dispatcher *d, const char *full);
/* 1 when the packed RpcRequest `in` calls a read that never waits: a method
 * with a handler and none of RPC_MUTATES, RPC_STREAMS and RPC_WAITS. Such a
 * call only reads through its worker state's connection, so a transport may
 * dispatch it on a thread that must not block (an nng callback). 0 for
 * anything else, bytes that do not scan included: when in doubt, a thread
 * that may wait. Looks at the envelope's method only (the last one, as the
 * decoder takes it); decodes nothing else. */
int rpc_request_never_waits(struct rpc_dispatcher *d, const uint8_t *in, size_t in_len);

#endif
