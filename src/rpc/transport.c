/*
 * nng rep0 server (see transport.h): reads answered in nng's receive
 * callbacks, everything else by the shared worker pool, replies through send
 * slots.
 */
#include "rpc/transport.h"

#include <arpa/inet.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "rpc/work_pool.h"

/* Contexts receiving requests. A read holds one only while it runs; a call
 * for the workers holds one until a worker has answered it, so this also
 * bounds the calls waiting for a worker, and leaves room for reads behind a
 * pipeline of 256 writes. */
#define RPC_RECEIVERS 512

/* The bytes of the requests waiting for a worker. A request that would pass
 * them is answered at once with RESOURCE_EXHAUSTED OVERLOADED (nothing ran:
 * a retry is safe), unless none waits: what the receivers hold stays
 * bounded whatever the clients send. */
#define RPC_QUEUE_BYTES_MAX ((size_t)64 << 20)

/* The requests waiting for a worker, by count: each holds a receiver, so
 * without this bound a pipeline of small writes (say while the database is
 * locked) takes every receiver and no read is received until the writes
 * drain. Past it a request is answered OVERLOADED like past the bytes; the
 * other half of the receivers stays for reads. */
#define RPC_QUEUE_CALLS_MAX (RPC_RECEIVERS / 2)

/* nng's req/rep header in front of every request on the wire: the 4-byte
 * request id. The listeners' size limit counts it; recv_max does not. */
#define RPC_REQ_HEADER_BYTES 4

/* A request of at most this many bytes lends its message to its reply. */
#define RPC_REUSE_MAX 4096

/* Send slots (see transport.h). A reply still waiting behind earlier replies
 * to its connection after RPC_SEND_TIMEOUT_MS is dropped with the connection;
 * so is a reply that would make more than RPC_PEER_REPLIES_MAX replies or
 * RPC_PEER_BYTES_MAX bytes wait for one connection (the first waiting reply
 * is always let through). A connection that takes its replies (one of them
 * was handed to it within RPC_PEER_STALL_MS: a client with many calls in
 * flight) may have up to RPC_PEER_PIPELINE_MAX waiting. RPC_SLOTS_MAX and
 * RPC_SERVER_BYTES_MAX bound what waits on the whole server: past them a
 * worker waits for room, and a reply made in an nng callback is dropped. */
#define RPC_SEND_TIMEOUT_MS 5000
#define RPC_PEER_REPLIES_MAX 32
#define RPC_PEER_PIPELINE_MAX 1024
#define RPC_PEER_STALL_MS 1000
#define RPC_PEER_BYTES_MAX ((size_t)64 << 20)
#define RPC_SLOTS_MAX 4096
#define RPC_SERVER_BYTES_MAX ((size_t)256 << 20)
#define RPC_PEER_BUCKETS 256
/* On shutdown, how long replies still waiting get (a peer that reads takes
 * its reply in milliseconds); rpc_server_close cancels the rest. */
#define RPC_DRAIN_MS 1000
/* At most one "reply dropped" line per this many ms. */
#define RPC_DROP_LOG_MS 1000
/* Worker states an nng thread keeps at hand (one per server it serves; a
 * process runs one server, tests at most a few). */
#define RPC_THREAD_STATES 4
#define RPC_STR_(x) #x
#define RPC_STR(x) RPC_STR_(x)

/*
 * A context that receives requests, driven by its aio's callback
 * (rpc_receiver_done). Its fields belong to whoever holds the receiver: nng
 * while it receives, then the callback, then (for a call queued for the
 * workers) the worker that took it, until it receives again.
 */
struct rpc_receiver {
	struct rpc_server *r_srv;
	nng_ctx r_ctx; /* swapped for a slot's clean one by every reply */
	nng_aio *r_aio; /* callback: rpc_receiver_done */
	int r_open; /* r_ctx was opened */
	nng_msg *r_msg; /* the request, from its arrival to its dispatch */
	struct work_item r_item; /* while queued for the workers */
};

/* A worker state made by an nng thread that answered a read (worker_init on
 * that thread, on its first read). The server keeps them all and closes them
 * once no callback can run any more. */
struct rpc_reader {
	void *rd_state;
	struct rpc_reader *rd_next;
};

/* A call answered later (RunTask with wait): its context waits here, with
 * no thread, until the pool's waiter sends the reply. */
struct rpc_pending {
	struct work_deferred p_wd;
	struct rpc_server *p_srv;
	nng_ctx p_ctx;
	nng_pipe p_pipe; /* the connection the request came on */
};

/* The replies waiting in slots for one connection; exists while there is
 * one. Under srv_out_mu. */
struct rpc_peer {
	uint32_t pe_pipe; /* nng_pipe_id */
	int pe_waiting;
	size_t pe_bytes;
	int64_t pe_moved_ms; /* CLOCK_MONOTONIC ms: made, or a reply handed to the connection */
	struct rpc_peer *pe_next; /* in its bucket, or the free list */
};

/* One reply on its way. A free slot holds a clean context (one that owes
 * nothing); a busy one holds the context that owes the reply and sends it on
 * o_aio, whose callback frees the slot again. Slots are made on demand and
 * live until the server closes. */
struct rpc_slot {
	struct rpc_server *o_srv;
	nng_ctx o_ctx; /* touched only by the thread that took the slot */
	nng_aio *o_aio; /* callback: rpc_slot_done */
	/* Under srv_out_mu: */
	nng_pipe o_pipe; /* while busy: the connection the reply goes to */
	size_t o_len; /* while busy: the reply's size */
	int o_busy;
	struct rpc_slot *o_next_free;
};

struct rpc_server {
	nng_socket srv_sock;
	nng_listener *srv_listeners;
	size_t srv_n_listeners;
	uint64_t srv_id; /* unique in the process: keys the nng threads' states */
	struct rpc_receiver *srv_receivers;
	int srv_n_receivers; /* made */
	struct rpc_dispatcher *srv_dispatch;
	struct rpc_server_options srv_opts;
	atomic_int srv_stopping; /* no receiver receives again once set */
	/* The calls for the shared workers and the waiter: this listener's
	 * limits and count (under the pool's lock). Closed when the server
	 * stops. */
	struct work_source srv_src;
	/* The nng threads' states, under srv_mu. */
	pthread_mutex_t srv_mu;
	struct rpc_reader *srv_readers;
	/* Send slots and the connections they wait for, under srv_out_mu;
	 * srv_out_cv (CLOCK_MONOTONIC) is broadcast whenever a slot is freed. */
	pthread_mutex_t srv_out_mu;
	pthread_cond_t srv_out_cv;
	struct rpc_slot **srv_slots; /* RPC_SLOTS_MAX places, srv_n_slots made */
	int srv_n_slots;
	int srv_n_busy;
	size_t srv_busy_bytes;
	struct rpc_slot *srv_free_slots;
	struct rpc_peer *srv_peers[RPC_PEER_BUCKETS];
	struct rpc_peer *srv_free_peers;
};

static _Atomic uint64_t rpc_next_server_id = 1;

/* The worker states this nng thread made, by server id (ts_ok 0: worker_init
 * failed here, and this thread's reads go to the workers). */
static _Thread_local struct {
	uint64_t ts_server;
	void *ts_state;
	int ts_ok;
} rpc_thread_states[RPC_THREAD_STATES];
static _Thread_local unsigned rpc_thread_states_next;

/* The remote address of a pipe, for the audit trail: "127.0.0.1:50412",
 * "[::1]:50412", "ipc", "inproc"; "" when nng does not know it. */
static void rpc_peer_name(nng_pipe p, char *buf, size_t n)
{
	nng_sockaddr sa;
	char host[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	if (nng_pipe_id(p) < 0 || nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_INET:
		if (inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host)) != NULL)
			snprintf(buf, n, "%s:%u", host, (unsigned)ntohs(sa.s_in.sa_port));
		break;
	case NNG_AF_INET6:
		if (inet_ntop(AF_INET6, sa.s_in6.sa_addr, host, sizeof(host)) != NULL)
			snprintf(buf, n, "[%s]:%u", host, (unsigned)ntohs(sa.s_in6.sa_port));
		break;
	case NNG_AF_IPC:
	case NNG_AF_ABSTRACT:
		snprintf(buf, n, "ipc");
		break;
	case NNG_AF_INPROC:
		snprintf(buf, n, "inproc");
		break;
	default:
		break;
	}
}

/* rpc_peer_name of the connection a request came on, remembered per thread
 * for the last connection it named: asking nng takes two of its locks and a
 * getpeername() call, and a thread mostly serves the same few connections.
 * nng numbers connections from a counter, so an id names one connection. */
static const char *rpc_peer_of(nng_pipe p)
{
	static _Thread_local int known;
	static _Thread_local char name[80];

	if (nng_pipe_id(p) != known || known <= 0) {
		rpc_peer_name(p, name, sizeof(name));
		known = nng_pipe_id(p);
	}
	return name;
}

/* Closes a connection that does not take its replies. rep0 then completes
 * the replies queued for it, so their slots come free at once. Safe inside
 * an aio callback: nothing is freed or waited for. */
static void rpc_peer_drop(nng_pipe pipe, const char *why)
{
	char peer[80];

	rpc_peer_name(pipe, peer, sizeof(peer));
	if (nng_pipe_close(pipe) == 0)
		log_warn("rpc", "closing the connection of %s: %s", peer[0] != '\0' ? peer : "a peer", why);
}

/* A reply dropped because the server has no room for it; logged at most
 * once per RPC_DROP_LOG_MS, since it happens in bursts. */
static void rpc_log_dropped(const char *why)
{
	static _Atomic int64_t last_ms;
	int64_t now = clock_mono_ms(), last = atomic_load(&last_ms);

	if (now - last >= RPC_DROP_LOG_MS && atomic_compare_exchange_strong(&last_ms, &last, now))
		log_warn("rpc", "reply dropped: %s", why);
}

/* The replies waiting for a connection, or NULL when none does. Under
 * srv_out_mu. */
static struct rpc_peer *rpc_peer_find(const struct rpc_server *srv, uint32_t pipe)
{
	struct rpc_peer *pe = srv->srv_peers[pipe % RPC_PEER_BUCKETS];

	while (pe != NULL && pe->pe_pipe != pipe)
		pe = pe->pe_next;
	return pe;
}

/* One more reply of len bytes waits for pipe. Under srv_out_mu. */
static void rpc_peer_add(struct rpc_server *srv, nng_pipe pipe, size_t len)
{
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	struct rpc_peer *pe = rpc_peer_find(srv, id);

	if (pe == NULL) {
		if ((pe = srv->srv_free_peers) != NULL)
			srv->srv_free_peers = pe->pe_next;
		else
			pe = xmalloc(sizeof(*pe));
		pe->pe_pipe = id;
		pe->pe_waiting = 0;
		pe->pe_bytes = 0;
		pe->pe_moved_ms = clock_mono_ms();
		pe->pe_next = srv->srv_peers[id % RPC_PEER_BUCKETS];
		srv->srv_peers[id % RPC_PEER_BUCKETS] = pe;
	}
	pe->pe_waiting++;
	pe->pe_bytes += len;
}

/* A reply of len bytes for pipe left its slot; moved: it was handed to the
 * connection (not dropped). Under srv_out_mu. */
static void rpc_peer_sub(struct rpc_server *srv, nng_pipe pipe, size_t len, int moved)
{
	uint32_t id = (uint32_t)nng_pipe_id(pipe);
	struct rpc_peer **pp = &srv->srv_peers[id % RPC_PEER_BUCKETS], *pe;

	while (*pp != NULL && (*pp)->pe_pipe != id)
		pp = &(*pp)->pe_next;
	if ((pe = *pp) == NULL)
		return;
	pe->pe_bytes -= len;
	if (--pe->pe_waiting > 0) {
		if (moved)
			pe->pe_moved_ms = clock_mono_ms();
		return;
	}
	*pp = pe->pe_next;
	pe->pe_next = srv->srv_free_peers;
	srv->srv_free_peers = pe;
}

/* Whether one more reply of len bytes may wait for pipe: always the first;
 * then up to RPC_PEER_REPLIES_MAX and RPC_PEER_BYTES_MAX, or up to
 * RPC_PEER_PIPELINE_MAX while the connection takes its replies. Under
 * srv_out_mu. */
static int rpc_peer_has_room(const struct rpc_server *srv, nng_pipe pipe, size_t len)
{
	const struct rpc_peer *pe = rpc_peer_find(srv, (uint32_t)nng_pipe_id(pipe));

	if (pe == NULL)
		return 1;
	if (pe->pe_bytes + len > RPC_PEER_BYTES_MAX)
		return 0;
	if (pe->pe_waiting < RPC_PEER_REPLIES_MAX)
		return 1;
	return pe->pe_waiting < RPC_PEER_PIPELINE_MAX && clock_mono_ms() - pe->pe_moved_ms < RPC_PEER_STALL_MS;
}

/* A send finished: sent (or handed to the connection), timed out, cancelled
 * at shutdown, or its connection closed. Runs on an nng thread, so it only
 * frees the message and puts the slot back. */
static void rpc_slot_done(void *arg)
{
	struct rpc_slot *s = arg;
	struct rpc_server *srv = s->o_srv;
	int rv = nng_aio_result(s->o_aio);

	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(s->o_aio)); /* a failed send leaves the message with us */
		nng_aio_set_msg(s->o_aio, NULL);
		if (rv == NNG_ETIMEDOUT)
			rpc_peer_drop(s->o_pipe, "a reply waited " RPC_STR(RPC_SEND_TIMEOUT_MS) " ms for it to read");
	}
	pthread_mutex_lock(&srv->srv_out_mu);
	rpc_peer_sub(srv, s->o_pipe, s->o_len, rv == 0);
	s->o_busy = 0;
	s->o_pipe = (nng_pipe)NNG_PIPE_INITIALIZER;
	s->o_next_free = srv->srv_free_slots;
	srv->srv_free_slots = s;
	srv->srv_n_busy--;
	srv->srv_busy_bytes -= s->o_len;
	pthread_cond_broadcast(&srv->srv_out_cv);
	pthread_mutex_unlock(&srv->srv_out_mu);
}

/* A new free slot with a clean context of its own, or NULL. Under srv_out_mu
 * (nng_ctx_open and nng_aio_alloc call none of our callbacks). */
static struct rpc_slot *rpc_slot_make(struct rpc_server *srv)
{
	struct rpc_slot *s = xcalloc(1, sizeof(*s));

	s->o_srv = srv;
	if (nng_aio_alloc(&s->o_aio, rpc_slot_done, s) != 0) {
		free(s);
		return NULL;
	}
	if (nng_ctx_open(&s->o_ctx, srv->srv_sock) != 0) {
		nng_aio_free(s->o_aio);
		free(s);
		return NULL;
	}
	srv->srv_slots[srv->srv_n_slots++] = s;
	return s;
}

static void rpc_deadline_after(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Whether the server has room for one more waiting reply of len bytes (a
 * reply always has room when nothing waits). Under srv_out_mu. */
static int rpc_server_has_room(const struct rpc_server *srv, size_t len)
{
	if (srv->srv_n_busy == 0)
		return 1;
	if (srv->srv_free_slots == NULL && srv->srv_n_slots == RPC_SLOTS_MAX)
		return 0;
	return srv->srv_busy_bytes + len <= RPC_SERVER_BYTES_MAX;
}

/* Takes a slot (an idle one, else a new one) and marks it busy with a reply
 * of len bytes for pipe. When the server has no room: NULL at once unless
 * may_wait, else waits for some (every busy slot is free again within
 * RPC_SEND_TIMEOUT_MS, so the wait is bounded; NULL when even that ran
 * out). Under srv_out_mu. */
static struct rpc_slot *rpc_slot_take(struct rpc_server *srv, nng_pipe pipe, size_t len, int may_wait)
{
	struct rpc_slot *s;
	struct timespec until;

	if (!rpc_server_has_room(srv, len)) {
		if (!may_wait)
			return NULL;
		rpc_deadline_after(&until, RPC_SEND_TIMEOUT_MS + 1000);
		while (!rpc_server_has_room(srv, len))
			if (pthread_cond_timedwait(&srv->srv_out_cv, &srv->srv_out_mu, &until) != 0)
				return NULL;
	}
	if ((s = srv->srv_free_slots) != NULL)
		srv->srv_free_slots = s->o_next_free;
	else if ((s = rpc_slot_make(srv)) == NULL)
		return NULL;
	s->o_next_free = NULL;
	s->o_busy = 1;
	s->o_pipe = pipe;
	s->o_len = len;
	srv->srv_n_busy++;
	srv->srv_busy_bytes += len;
	rpc_peer_add(srv, pipe, len);
	return s;
}

/* Sends the reply owed by *ctx, for a request that came on `pipe`, without
 * waiting for the peer: a send slot takes the context and sends from there,
 * and *ctx becomes the slot's clean one, ready for the next request. A peer
 * with no room left (it reads none of its waiting replies) loses this reply
 * and its connection; so does, with a log line, any reply when the server
 * has no room and the caller may not wait for it (may_wait 0: an nng
 * callback). *ctx, which still owes a dropped reply, stays usable: its next
 * receive replaces the request. The reply goes out in `msg` when not NULL
 * (the request's message, done with: reusing it saves nng an allocation),
 * else in a new message; rpc_reply owns msg either way. */
static void rpc_reply(struct rpc_server *srv, nng_ctx *ctx, nng_pipe pipe, const uint8_t *data, size_t len,
		      int may_wait, nng_msg *msg)
{
	struct rpc_slot *s;
	nng_ctx clean;

	pthread_mutex_lock(&srv->srv_out_mu);
	if (!rpc_peer_has_room(srv, pipe, len)) {
		pthread_mutex_unlock(&srv->srv_out_mu);
		nng_msg_free(msg);
		rpc_peer_drop(pipe, "it reads none of its waiting replies");
		return;
	}
	s = rpc_slot_take(srv, pipe, len, may_wait);
	pthread_mutex_unlock(&srv->srv_out_mu);
	if (s == NULL) {
		nng_msg_free(msg);
		rpc_log_dropped(may_wait ? "the replies waiting on the whole server left no room for it within 6 s"
					 : "the replies waiting on the whole server are at their limit");
		return;
	}

	if (msg != NULL) {
		/* rep0 keeps a request's routing header in its context, not in
		 * the message, and puts it back on the reply. */
		nng_msg_header_clear(msg);
		nng_msg_clear(msg);
		if (nng_msg_append(msg, data, len) != 0)
			xalloc_oom(len);
	} else {
		if (nng_msg_alloc(&msg, len) != 0)
			xalloc_oom(len);
		memcpy(nng_msg_body(msg), data, len);
	}
	clean = s->o_ctx;
	s->o_ctx = *ctx;
	*ctx = clean;
	nng_aio_set_msg(s->o_aio, msg);
	nng_aio_set_timeout(s->o_aio, RPC_SEND_TIMEOUT_MS);
	nng_ctx_send(s->o_ctx, s->o_aio);
}

/* This thread's worker state for srv (an nng thread answering a read): made
 * with worker_init on the thread's first read and kept in srv_readers until
 * the server stops. 0 with *state; -1 when worker_init failed on this thread
 * (logged once; the thread's reads then go to the workers). */
static int rpc_thread_state(struct rpc_server *srv, void **state)
{
	struct rpc_reader *rd;
	bbb_status st;
	unsigned i;

	for (i = 0; i < RPC_THREAD_STATES; i++) {
		if (rpc_thread_states[i].ts_server == srv->srv_id) {
			*state = rpc_thread_states[i].ts_state;
			return rpc_thread_states[i].ts_ok ? 0 : -1;
		}
	}
	/* A slot of a server this thread served earlier, or the oldest one (a
	 * state it held stays with its server: the thread makes another). */
	i = rpc_thread_states_next++ % RPC_THREAD_STATES;
	rpc_thread_states[i].ts_server = srv->srv_id;
	rpc_thread_states[i].ts_state = NULL;
	rpc_thread_states[i].ts_ok = 1;
	status_clear(&st);
	if (srv->srv_opts.worker_init != NULL &&
	    srv->srv_opts.worker_init(srv->srv_opts.env, &rpc_thread_states[i].ts_state, &st) != 0) {
		log_warn("rpc", "an nng thread cannot make its worker state (%s); its reads go to the workers",
			 st.message);
		rpc_thread_states[i].ts_ok = 0;
		return -1;
	}
	rd = xcalloc(1, sizeof(*rd));
	rd->rd_state = rpc_thread_states[i].ts_state;
	pthread_mutex_lock(&srv->srv_mu);
	rd->rd_next = srv->srv_readers;
	srv->srv_readers = rd;
	pthread_mutex_unlock(&srv->srv_mu);
	*state = rd->rd_state;
	return 0;
}

/* Closes the states nng threads made. Once no receive callback can run. */
static void rpc_readers_fini(struct rpc_server *srv)
{
	struct rpc_reader *rd, *next;

	pthread_mutex_lock(&srv->srv_mu);
	rd = srv->srv_readers;
	srv->srv_readers = NULL;
	pthread_mutex_unlock(&srv->srv_mu);
	for (; rd != NULL; rd = next) {
		next = rd->rd_next;
		if (srv->srv_opts.worker_fini != NULL && rd->rd_state != NULL)
			srv->srv_opts.worker_fini(rd->rd_state);
		free(rd);
	}
}

/* Lets r receive the next request, unless the server stops. */
static void rpc_receiver_arm(struct rpc_server *srv, struct rpc_receiver *r)
{
	if (!atomic_load(&srv->srv_stopping))
		nng_ctx_recv(r->r_ctx, r->r_aio);
}

static void rpc_pending_answer(struct work_deferred *d, const uint8_t *data, size_t len);

/* Hands r's context, which owes the reply of a deferred call, to the waiter
 * and gives r a fresh context for the next request. -1 when no context can
 * be opened (the caller then answers at once). */
static int rpc_park(struct rpc_server *srv, struct rpc_receiver *r, nng_pipe pipe, struct rpc_deferred *df)
{
	struct rpc_pending *p;
	nng_ctx fresh;

	if (nng_ctx_open(&fresh, srv->srv_sock) != 0)
		return -1;
	p = xcalloc(1, sizeof(*p));
	p->p_wd.wd_answer = rpc_pending_answer;
	p->p_srv = srv;
	p->p_ctx = r->r_ctx;
	p->p_pipe = pipe;
	r->r_ctx = fresh;
	work_pool_defer(srv->srv_opts.pool, &srv->srv_src, &p->p_wd, df);
	return 0;
}

/* Dispatches the request r holds with `state` and sends the reply through a
 * slot. may_wait 1 (a worker): a call may defer (its context is parked with
 * the waiter) and a reply waits for room on the server; 0 (an nng callback,
 * for a read that never waits): neither. */
static void rpc_serve(struct rpc_server *srv, struct rpc_receiver *r, void *state, int may_wait)
{
	nng_msg *msg = r->r_msg;
	nng_pipe pipe = nng_msg_get_pipe(msg);
	struct rpc_deferred *df = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;

	r->r_msg = NULL;
	rpc_dispatch_deferrable(srv->srv_dispatch, state, rpc_peer_of(pipe), nng_msg_body(msg), nng_msg_len(msg), &out,
				&out_len, may_wait ? &df : NULL);
	/* A small request's message carries the reply; a big one's buffer is
	 * not kept while the reply waits (what waits is counted by the reply's
	 * size). */
	if (nng_msg_len(msg) > RPC_REUSE_MAX || df != NULL) {
		nng_msg_free(msg);
		msg = NULL;
	}
	if (df != NULL && rpc_park(srv, r, pipe, df) == 0)
		return;
	if (df != NULL) {
		rpc_deferred_poll(df, state, 1, &out, &out_len);
		rpc_deferred_free(df);
	}
	rpc_reply(srv, &r->r_ctx, pipe, out, out_len, may_wait, msg);
	free(out);
}

/* Answers the request r holds with `why` (OVERLOADED, SHUTTING_DOWN: a
 * refusal after which a retry is safe), without running it (the envelope's
 * checks and their audit still apply). may_wait as for rpc_reply. */
static void rpc_refuse(struct rpc_server *srv, struct rpc_receiver *r, const bbb_status *why, int may_wait)
{
	nng_msg *msg = r->r_msg;
	nng_pipe pipe = nng_msg_get_pipe(msg);
	uint8_t *out = NULL;
	size_t out_len = 0;

	r->r_msg = NULL;
	rpc_dispatch_undecodable(srv->srv_dispatch, rpc_peer_of(pipe), nng_msg_body(msg), nng_msg_len(msg), why, &out,
				 &out_len);
	nng_msg_free(msg);
	rpc_reply(srv, &r->r_ctx, pipe, out, out_len, may_wait, NULL);
	free(out);
}

/* A worker runs a queued call: once the server stops it is answered
 * SHUTTING_DOWN without running (with the database slow or locked, running
 * every queued write would hold the stop for minutes). */
static void rpc_receiver_run(struct work_item *it, void *state)
{
	struct rpc_receiver *r = (struct rpc_receiver *)((char *)it - offsetof(struct rpc_receiver, r_item));
	struct rpc_server *srv = r->r_srv;

	if (atomic_load(&srv->srv_stopping)) {
		bbb_status why;

		status_clear(&why);
		status_fail(&why, "SHUTTING_DOWN", "the server is stopping; the call did not run, try again");
		rpc_refuse(srv, r, &why, 1);
	} else {
		rpc_serve(srv, r, state, 1);
	}
	rpc_receiver_arm(srv, r);
}

/* Queues the request r holds for the workers; one that would pass
 * RPC_QUEUE_BYTES_MAX or RPC_QUEUE_CALLS_MAX is refused instead. Once the
 * server stops, the request is dropped (no answer) and r stays idle. */
static void rpc_queue_push(struct rpc_server *srv, struct rpc_receiver *r)
{
	bbb_status why;

	r->r_item.wi_run = rpc_receiver_run;
	switch (work_pool_submit(srv->srv_opts.pool, &srv->srv_src, &r->r_item, nng_msg_len(r->r_msg))) {
	case WORK_QUEUED:
		return;
	case WORK_CLOSED:
		nng_msg_free(r->r_msg);
		r->r_msg = NULL;
		return;
	default:
		status_clear(&why);
		status_fail(
			&why, "OVERLOADED",
			"the server holds as many requests waiting for a worker as it takes (%d, %d MiB); try again",
			RPC_QUEUE_CALLS_MAX, (int)(RPC_QUEUE_BYTES_MAX >> 20));
		rpc_refuse(srv, r, &why, 0);
		rpc_receiver_arm(srv, r);
	}
}

/* A receive finished, on an nng thread. A read that never waits is answered
 * here, with this thread's own state; anything else goes to the workers. */
static void rpc_receiver_done(void *arg)
{
	struct rpc_receiver *r = arg;
	struct rpc_server *srv = r->r_srv;
	int rv = nng_aio_result(r->r_aio);
	void *state;

	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
		return; /* stopped */
	if (rv != 0) {
		log_warn("rpc", "receive failed: %s", nng_strerror(rv));
		rpc_receiver_arm(srv, r);
		return;
	}
	r->r_msg = nng_aio_get_msg(r->r_aio);
	nng_aio_set_msg(r->r_aio, NULL);
	if (atomic_load(&srv->srv_stopping)) {
		nng_msg_free(r->r_msg); /* arrived after the stop: no answer */
		r->r_msg = NULL;
		return;
	}
	if (rpc_request_never_waits(srv->srv_dispatch, nng_msg_body(r->r_msg), nng_msg_len(r->r_msg)) &&
	    rpc_thread_state(srv, &state) == 0) {
		rpc_serve(srv, r, state, 0);
		rpc_receiver_arm(srv, r);
		return;
	}
	rpc_queue_push(srv, r);
}

/* Sends a deferred call's reply (through a send slot, so the waiter never
 * waits on the peer), on the pool's waiter, and closes the context it is
 * left with. */
static void rpc_pending_answer(struct work_deferred *d, const uint8_t *data, size_t len)
{
	struct rpc_pending *p = (struct rpc_pending *)((char *)d - offsetof(struct rpc_pending, p_wd));

	rpc_reply(p->p_srv, &p->p_ctx, p->p_pipe, data, len, 1, NULL);
	nng_ctx_close(p->p_ctx);
	free(p);
}

void rpc_server_poke(struct rpc_server *srv)
{
	if (srv != NULL)
		work_pool_poke(srv->srv_opts.pool);
}

/* Sets one size limit on a listener; a transport without that option
 * (inproc has no limit, only ws:// has frames) is not an error. */
static int rpc_listener_limit(nng_listener l, const char *opt, size_t max, const char *url, bbb_status *st)
{
	int rv = nng_listener_set_size(l, opt, max);

	if (rv != 0 && rv != NNG_ENOTSUP)
		return status_fail(st, "INTERNAL_ERROR", "cannot set %s on %s: %s", opt, url, nng_strerror(rv));
	return 0;
}

/* The certificate of a tls+tcp:// or wss:// listener; other transports
 * have no TLS option, which is not an error. */
static int rpc_listener_tls(nng_listener l, nng_tls_config *tls, const char *url, bbb_status *st)
{
	int rv;

	if (tls == NULL)
		return 0;
	rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls);
	if (rv != 0 && rv != NNG_ENOTSUP)
		return status_fail(st, "INTERNAL_ERROR", "cannot set the certificate on %s: %s", url, nng_strerror(rv));
	return 0;
}

/* A listener on url whose connections carry requests of at most recv_max
 * envelope bytes: nng counts its request id header against the limit, and
 * over ws:// a whole message may come as one frame. */
static int rpc_listen(struct rpc_server *srv, const char *url, bbb_status *st)
{
	nng_listener *l = &srv->srv_listeners[srv->srv_n_listeners];
	size_t max = srv->srv_opts.recv_max + RPC_REQ_HEADER_BYTES;
	int rv;

	if ((rv = nng_listener_create(l, srv->srv_sock, url)) != 0)
		return status_fail(st, "VALIDATION_ERROR", "cannot listen on %s: %s", url, nng_strerror(rv));
	if (rpc_listener_limit(*l, NNG_OPT_RECVMAXSZ, max, url, st) != 0 ||
	    rpc_listener_limit(*l, NNG_OPT_WS_RECVMAXFRAME, max, url, st) != 0 ||
	    rpc_listener_tls(*l, srv->srv_opts.tls, url, st) != 0) {
		nng_listener_close(*l);
		return -1;
	}
	if ((rv = nng_listener_start(*l, 0)) != 0) {
		nng_listener_close(*l);
		return status_fail(st, "INTERNAL_ERROR", "cannot listen on %s: %s", url, nng_strerror(rv));
	}
	srv->srv_n_listeners++;
	return 0;
}

/* Stop order: every aio stopped (a slot's callback may still run here and
 * put its slot back), then contexts and the socket closed, then aios freed. */
static void rpc_server_release(struct rpc_server *srv)
{
	int n_slots;

	pthread_mutex_lock(&srv->srv_out_mu);
	n_slots = srv->srv_n_slots;
	pthread_mutex_unlock(&srv->srv_out_mu);
	for (int i = 0; i < srv->srv_n_receivers; i++)
		nng_aio_stop(srv->srv_receivers[i].r_aio);
	for (int i = 0; i < n_slots; i++)
		nng_aio_stop(srv->srv_slots[i]->o_aio);
	for (int i = 0; i < srv->srv_n_receivers; i++)
		if (srv->srv_receivers[i].r_open)
			nng_ctx_close(srv->srv_receivers[i].r_ctx);
	for (int i = 0; i < n_slots; i++)
		nng_ctx_close(srv->srv_slots[i]->o_ctx);
	nng_close(srv->srv_sock);
	for (int i = 0; i < srv->srv_n_receivers; i++) {
		nng_aio_free(srv->srv_receivers[i].r_aio);
		if (srv->srv_receivers[i].r_msg != NULL)
			nng_msg_free(srv->srv_receivers[i].r_msg);
	}
	for (int i = 0; i < n_slots; i++) {
		nng_aio_free(srv->srv_slots[i]->o_aio);
		free(srv->srv_slots[i]);
	}
	rpc_readers_fini(srv);
	for (int b = 0; b < RPC_PEER_BUCKETS; b++)
		for (struct rpc_peer *pe = srv->srv_peers[b], *next; pe != NULL; pe = next) {
			next = pe->pe_next;
			free(pe);
		}
	for (struct rpc_peer *pe = srv->srv_free_peers, *next; pe != NULL; pe = next) {
		next = pe->pe_next;
		free(pe);
	}
	pthread_cond_destroy(&srv->srv_out_cv);
	pthread_mutex_destroy(&srv->srv_out_mu);
	pthread_mutex_destroy(&srv->srv_mu);
	free(srv->srv_slots);
	free(srv->srv_receivers);
	free(srv->srv_listeners);
	free(srv);
}

/* Waits until the replies handed to send slots are sent or dropped, at most
 * RPC_DRAIN_MS. */
static void rpc_server_drain(struct rpc_server *srv)
{
	struct timespec until;

	rpc_deadline_after(&until, RPC_DRAIN_MS);
	pthread_mutex_lock(&srv->srv_out_mu);
	while (srv->srv_n_busy > 0 && pthread_cond_timedwait(&srv->srv_out_cv, &srv->srv_out_mu, &until) == 0)
		;
	pthread_mutex_unlock(&srv->srv_out_mu);
}

/* Stops serving, in this order: receivers take no new request (one that
 * arrives is dropped unanswered), the workers answer this server's queued
 * calls SHUTTING_DOWN and the waiter answers its deferred calls (the pool
 * goes on for the other listener), then every receiver's aio is stopped,
 * which waits for a read an nng thread is answering; only then are the nng
 * threads' states closed. Last, the replies in slots get their
 * RPC_DRAIN_MS. */
static void rpc_server_join(struct rpc_server *srv)
{
	atomic_store(&srv->srv_stopping, 1);
	work_source_drain(srv->srv_opts.pool, &srv->srv_src);
	for (int i = 0; i < srv->srv_n_receivers; i++)
		nng_aio_stop(srv->srv_receivers[i].r_aio);
	rpc_readers_fini(srv);
	rpc_server_drain(srv);
}

/* Makes the receivers: an aio and a context each. */
static int rpc_receivers_make(struct rpc_server *srv, bbb_status *st)
{
	int rv;

	srv->srv_receivers = xcalloc(RPC_RECEIVERS, sizeof(*srv->srv_receivers));
	for (int i = 0; i < RPC_RECEIVERS; i++) {
		struct rpc_receiver *r = &srv->srv_receivers[i];

		r->r_srv = srv;
		if ((rv = nng_aio_alloc(&r->r_aio, rpc_receiver_done, r)) != 0)
			return status_fail(st, "INTERNAL_ERROR", "cannot make receiver %d: %s", i, nng_strerror(rv));
		srv->srv_n_receivers++;
		if ((rv = nng_ctx_open(&r->r_ctx, srv->srv_sock)) != 0)
			return status_fail(st, "INTERNAL_ERROR", "cannot make receiver %d: %s", i, nng_strerror(rv));
		r->r_open = 1;
	}
	return 0;
}

int rpc_server_start(struct rpc_server **out, const struct rpc_server_options *opts, struct rpc_dispatcher *d,
		     bbb_status *st)
{
	struct rpc_server *srv = xcalloc(1, sizeof(*srv));
	pthread_condattr_t attr;
	int rv;

	srv->srv_opts = *opts;
	srv->srv_dispatch = d;
	srv->srv_id = atomic_fetch_add(&rpc_next_server_id, 1);
	work_source_init(&srv->srv_src, RPC_QUEUE_CALLS_MAX, RPC_QUEUE_BYTES_MAX);
	pthread_mutex_init(&srv->srv_mu, NULL);
	pthread_mutex_init(&srv->srv_out_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->srv_out_cv, &attr);
	pthread_condattr_destroy(&attr);
	srv->srv_slots = xcalloc(RPC_SLOTS_MAX, sizeof(*srv->srv_slots));
	srv->srv_listeners = xcalloc(opts->n_urls, sizeof(*srv->srv_listeners));
	if ((rv = nng_rep0_open(&srv->srv_sock)) != 0) {
		rpc_server_release(srv);
		return status_fail(st, "INTERNAL_ERROR", "cannot open the rep socket: %s", nng_strerror(rv));
	}
	/* The receivers, then they start receiving, then the listeners. */
	if (rpc_receivers_make(srv, st) != 0)
		goto fail;
	for (int i = 0; i < srv->srv_n_receivers; i++)
		rpc_receiver_arm(srv, &srv->srv_receivers[i]);
	for (size_t i = 0; i < opts->n_urls; i++)
		if (rpc_listen(srv, opts->urls[i], st) != 0)
			goto fail;
	*out = srv;
	return 0;
fail:
	rpc_server_join(srv);
	rpc_server_release(srv);
	return -1;
}

void rpc_server_quiesce(struct rpc_server *srv)
{
	/* Threads and our own callbacks only: nothing in nng that could block
	 * on a connection (see transport.h). */
	rpc_server_join(srv);
}

void rpc_server_close(struct rpc_server *srv)
{
	if (srv != NULL)
		rpc_server_release(srv);
}

void rpc_server_stop(struct rpc_server *srv)
{
	if (srv == NULL)
		return;
	rpc_server_quiesce(srv);
	rpc_server_release(srv);
}
