/*
 * The RPC transport: one nng rep0 socket listening on every configured URL,
 * a pool of receiving contexts driven by their aio callbacks (nng's
 * demo/async/server shape), and the worker pool it shares with the HTTP
 * face (rpc/work_pool.h).
 *
 * A request arrives in a receiver's callback, on one of nng's own threads.
 * That callback looks at the envelope's method (rpc_request_never_waits): a
 * read that never waits (no RPC_MUTATES, RPC_STREAMS or RPC_WAITS) is
 * dispatched right there, with that thread's own worker state (made by
 * worker_init on the thread's first read: its SQLite read connection), and
 * the receiver receives again. No other thread is woken for a read.
 * Everything else (writes, which wait for the group commit; calls that may
 * wait or defer) is queued, receiver and all, for the pool's workers (each
 * with a state of its own), which answer in arrival order and then let the
 * receiver receive again. The receivers (512) bound the
 * calls queued; at most 256 calls (and 64 MiB) wait for a worker, past that
 * a request is answered RESOURCE_EXHAUSTED OVERLOADED at once, so the other
 * receivers stay free for reads behind a pipeline of writes. An nng
 * callback never blocks: no store_write, no condition wait, no wait for
 * send room.
 *
 * No thread waits on a peer either. A reply is handed, with the context
 * that owes it, to a send slot, and the receiver takes the slot's clean
 * context for its next request; the slot's aio sends, and its callback frees
 * the slot. In nng 1.5.2 a reply goes to its connection at once unless an
 * earlier reply to that connection is still being written; then it waits in
 * the slot. A peer that does not read its replies is cut off:
 *   - a reply still waiting after 5 s is dropped and its connection closed;
 *   - so is a reply that would make more than 32 replies or 64 MiB wait for
 *     one connection (the first waiting reply always may). A connection
 *     that takes its replies (one was handed to it within the last second: a
 *     client with many calls in flight) may have up to 1,024 waiting, within
 *     the same 64 MiB;
 *   - at most 4,096 replies and 256 MiB wait on the whole server; past that
 *     a worker waits for room (every slot is free again within the 5 s),
 *     and a reply made in an nng callback is dropped with a log line.
 * Closing the connection completes its other waiting replies at once. One
 * reply per connection that nng has started to write stays with nng until
 * the peer reads it or goes away; no thread and no slot waits for it.
 *
 * A call a handler defers (rpc_call_defer) keeps no worker either: its
 * context is parked with the pool's waiter thread, the receiver takes a
 * fresh context, and the waiter replies on the parked one through a send
 * slot when the call is ready.
 *
 * Size: recv_max bounds the RpcRequest envelope. nng counts its own header
 * (the 4-byte request id) against the listener's limit, so the listeners get
 * recv_max + 4; over ws:// the frame limit is raised to match (nng's default
 * there is 1 MiB). A larger request closes its connection without a reply.
 *
 * Stop order (nng 1.5.2 has close races otherwise): receivers take no new
 * request, workers finish the calls they run, answer this server's calls
 * still queued UNAVAILABLE SHUTTING_DOWN without running them (a retry is
 * safe; a locked database would otherwise hold the stop for minutes), the
 * waiter answers the deferred calls it holds for it, every receiver's aio is
 * stopped (which waits for a read an nng
 * thread is answering), the states the nng threads made are closed, and the
 * replies in send slots are given 1 s more; then every aio is stopped,
 * contexts and the socket closed, and only then the aios freed. Nothing is
 * freed from inside a callback.
 */
#ifndef BBB_TRANSPORT_H
#define BBB_TRANSPORT_H

#include <stddef.h>

#include <beebeebrain/status.h>

#include "rpc/dispatch.h"
#include "rpc/work_pool.h"

struct rpc_server_options {
	const char *const *urls; /* tcp://, ipc://, ws://, tls+tcp:// ... */
	size_t n_urls;
	/* The workers for writes and calls that may wait, and the waiter of
	 * deferred calls; shared, it must outlive the server. */
	struct work_pool *pool;
	size_t recv_max; /* envelope bytes; larger requests close their connection */
	/* The server's certificate for tls+tcp:// and wss:// URLs (NULL: none;
	 * such a URL then fails to start). Held by the caller until close. */
	struct nng_tls_config *tls;
	/* Per-thread state of the nng threads: made on an nng thread when it
	 * answers its first read; worker_fini runs on another thread. Both must
	 * be safe on any thread. */
	int (*worker_init)(void *env, void **worker, bbb_status *st);
	void (*worker_fini)(void *worker);
	void *env;
};

struct rpc_server;

int rpc_server_start(struct rpc_server **out, const struct rpc_server_options *opts, struct rpc_dispatcher *d,
		     bbb_status *st);
/* Stops serving: the calls received are answered (reads on nng's threads;
 * the queued ones by the pool's workers, with SHUTTING_DOWN unless already
 * running; the deferred ones by its waiter), the states made for
 * nng's threads are closed, and the replies on their way get 1 s to be sent;
 * requests that arrive later get no answer (their clients see the
 * connection close). Joins threads and waits for our own callbacks only. */
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
