/*
 * The RPC transport: one nng rep0 socket listening on every configured URL,
 * and N worker threads, each with its own nng context and aio, each running
 * receive -> rpc_dispatch -> send in a loop. Each worker also owns a piece of
 * state made by worker_init (its SQLite read connection).
 *
 * A call a handler defers (rpc_call_defer) keeps no worker: its context is
 * parked with the waiter thread, the worker takes a fresh context, and the
 * waiter replies on the parked one when the call is ready.
 *
 * Stop order (NOTES-nng-protobuf-c.md): workers finish the request they hold
 * and exit; then every aio is stopped, contexts and the socket closed, and
 * only then the aios freed. Nothing is freed from inside a callback.
 */
#ifndef BBB_TRANSPORT_H
#define BBB_TRANSPORT_H

#include <stddef.h>

#include <beebeebrain/client.h>

#include "rpc/dispatch.h"

struct rpc_server_options {
	const char *const *urls; /* tcp://, ipc://, ws://, tls+tcp:// ... */
	size_t n_urls;
	int workers; /* >= 1 */
	size_t recv_max; /* bytes; larger requests close their connection */
	/* Per-worker state: made on the worker's thread before it serves. */
	int (*worker_init)(void *env, void **worker, bbb_status *st);
	void (*worker_fini)(void *worker);
	void *env;
};

struct rpc_server;

int rpc_server_start(struct rpc_server **out, const struct rpc_server_options *opts, struct rpc_dispatcher *d,
		     bbb_status *st);
/* Stops serving: every worker finishes the call it holds and exits; requests
 * that arrive later get no answer (their clients see the connection close). */
void rpc_server_quiesce(struct rpc_server *srv);
/* Releases the sockets, contexts and aios (after rpc_server_quiesce). nng
 * 1.5.2's nng_close can hang on a connection closing at the same moment
 * (nng issues 1543, 1813): call it once nothing durable is left to do. */
void rpc_server_close(struct rpc_server *srv);
/* Something committed: deferred calls (RunTask with wait) look again. */
void rpc_server_poke(struct rpc_server *srv);
/* Both. */
void rpc_server_stop(struct rpc_server *srv);

#endif
