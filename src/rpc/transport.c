/* nng rep0 server with one context per worker thread (see transport.h). */
#include "rpc/transport.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/status.h"

/* How often an idle worker looks at the stop flag. */
#define RPC_POLL_MS 200

struct rpc_worker {
	struct rpc_server *w_srv;
	pthread_t w_thread;
	nng_ctx w_ctx;
	nng_aio *w_aio;
	void *w_state;
	int w_started;
	/* Start-up handshake: the worker reports whether worker_init worked. */
	int w_init_rc;
	bbb_status w_init_st;
};

struct rpc_server {
	nng_socket srv_sock;
	nng_listener *srv_listeners;
	size_t srv_n_listeners;
	struct rpc_worker *srv_workers;
	int srv_n_workers;
	struct rpc_dispatcher *srv_dispatch;
	struct rpc_server_options srv_opts;
	atomic_int srv_stopping;
	pthread_mutex_t srv_mu;
	pthread_cond_t srv_cv;
	int srv_ready; /* workers done with worker_init */
};

/* Sends `len` bytes as the reply on the worker's context. */
static void rpc_worker_reply(struct rpc_worker *w, const uint8_t *data, size_t len)
{
	nng_msg *msg;

	if (nng_msg_alloc(&msg, len) != 0) {
		log_error("rpc", "out of memory for a reply of %zu bytes", len);
		return;
	}
	memcpy(nng_msg_body(msg), data, len);
	nng_aio_set_msg(w->w_aio, msg);
	nng_aio_set_timeout(w->w_aio, NNG_DURATION_DEFAULT);
	nng_ctx_send(w->w_ctx, w->w_aio);
	nng_aio_wait(w->w_aio);
	if (nng_aio_result(w->w_aio) != 0)
		nng_msg_free(nng_aio_get_msg(w->w_aio)); /* peer gone: the reply is dropped */
}

static void *rpc_worker_main(void *arg)
{
	struct rpc_worker *w = arg;
	struct rpc_server *srv = w->w_srv;
	int rc = 0;

	status_clear(&w->w_init_st);
	if (srv->srv_opts.worker_init != NULL)
		rc = srv->srv_opts.worker_init(srv->srv_opts.env, &w->w_state, &w->w_init_st);
	pthread_mutex_lock(&srv->srv_mu);
	w->w_init_rc = rc;
	srv->srv_ready++;
	pthread_cond_broadcast(&srv->srv_cv);
	pthread_mutex_unlock(&srv->srv_mu);
	if (rc != 0)
		return NULL;

	while (!atomic_load(&srv->srv_stopping)) {
		nng_msg *msg;
		uint8_t *out = NULL;
		size_t out_len = 0;

		nng_aio_set_timeout(w->w_aio, RPC_POLL_MS);
		nng_ctx_recv(w->w_ctx, w->w_aio);
		nng_aio_wait(w->w_aio);
		rc = nng_aio_result(w->w_aio);
		if (rc == NNG_ETIMEDOUT)
			continue;
		if (rc == NNG_ECLOSED || rc == NNG_ECANCELED)
			break;
		if (rc != 0) {
			log_warn("rpc", "receive failed: %s", nng_strerror(rc));
			continue;
		}
		msg = nng_aio_get_msg(w->w_aio);
		rpc_dispatch(srv->srv_dispatch, w->w_state, nng_msg_body(msg), nng_msg_len(msg), &out, &out_len);
		nng_msg_free(msg);
		rpc_worker_reply(w, out, out_len);
		free(out);
	}
	if (srv->srv_opts.worker_fini != NULL)
		srv->srv_opts.worker_fini(w->w_state);
	return NULL;
}

static int rpc_listen(struct rpc_server *srv, const char *url, bbb_status *st)
{
	nng_listener *l = &srv->srv_listeners[srv->srv_n_listeners];
	int rv;

	if ((rv = nng_listener_create(l, srv->srv_sock, url)) != 0)
		return status_fail(st, "VALIDATION_ERROR", "cannot listen on %s: %s", url, nng_strerror(rv));
	nng_listener_set_size(*l, NNG_OPT_RECVMAXSZ, srv->srv_opts.recv_max);
	if ((rv = nng_listener_start(*l, 0)) != 0) {
		nng_listener_close(*l);
		return status_fail(st, "INTERNAL_ERROR", "cannot listen on %s: %s", url, nng_strerror(rv));
	}
	srv->srv_n_listeners++;
	return 0;
}

static void rpc_server_release(struct rpc_server *srv)
{
	for (int i = 0; i < srv->srv_n_workers; i++)
		if (srv->srv_workers[i].w_aio != NULL)
			nng_aio_stop(srv->srv_workers[i].w_aio);
	for (int i = 0; i < srv->srv_n_workers; i++)
		nng_ctx_close(srv->srv_workers[i].w_ctx);
	nng_close(srv->srv_sock);
	for (int i = 0; i < srv->srv_n_workers; i++)
		nng_aio_free(srv->srv_workers[i].w_aio);
	pthread_mutex_destroy(&srv->srv_mu);
	pthread_cond_destroy(&srv->srv_cv);
	free(srv->srv_workers);
	free(srv->srv_listeners);
	free(srv);
}

static void rpc_server_join(struct rpc_server *srv)
{
	atomic_store(&srv->srv_stopping, 1);
	for (int i = 0; i < srv->srv_n_workers; i++)
		if (srv->srv_workers[i].w_started)
			pthread_join(srv->srv_workers[i].w_thread, NULL);
	for (int i = 0; i < srv->srv_n_workers; i++)
		srv->srv_workers[i].w_started = 0;
}

int rpc_server_start(struct rpc_server **out, const struct rpc_server_options *opts, struct rpc_dispatcher *d,
		     bbb_status *st)
{
	struct rpc_server *srv = calloc(1, sizeof(*srv));
	int rv;

	if (srv == NULL)
		return status_fail(st, "INTERNAL_ERROR", "out of memory");
	srv->srv_opts = *opts;
	srv->srv_dispatch = d;
	pthread_mutex_init(&srv->srv_mu, NULL);
	pthread_cond_init(&srv->srv_cv, NULL);
	srv->srv_listeners = calloc(opts->n_urls, sizeof(*srv->srv_listeners));
	srv->srv_workers = calloc((size_t)opts->workers, sizeof(*srv->srv_workers));
	if ((rv = nng_rep0_open(&srv->srv_sock)) != 0) {
		free(srv->srv_listeners);
		free(srv->srv_workers);
		free(srv);
		return status_fail(st, "INTERNAL_ERROR", "cannot open the rep socket: %s", nng_strerror(rv));
	}
	srv->srv_n_workers = opts->workers;
	for (int i = 0; i < opts->workers; i++) {
		struct rpc_worker *w = &srv->srv_workers[i];
		w->w_srv = srv;
		if ((rv = nng_aio_alloc(&w->w_aio, NULL, NULL)) != 0 ||
		    (rv = nng_ctx_open(&w->w_ctx, srv->srv_sock)) != 0) {
			rpc_server_release(srv);
			return status_fail(st, "INTERNAL_ERROR", "cannot make worker %d: %s", i, nng_strerror(rv));
		}
	}
	/* Workers first (with their read connections), then the listeners. */
	int started = 0;
	for (int i = 0; i < opts->workers; i++) {
		struct rpc_worker *w = &srv->srv_workers[i];
		if (pthread_create(&w->w_thread, NULL, rpc_worker_main, w) == 0) {
			w->w_started = 1;
			started++;
		}
	}
	pthread_mutex_lock(&srv->srv_mu);
	while (srv->srv_ready < started)
		pthread_cond_wait(&srv->srv_cv, &srv->srv_mu);
	pthread_mutex_unlock(&srv->srv_mu);
	for (int i = 0; i < opts->workers; i++) {
		if (!srv->srv_workers[i].w_started || srv->srv_workers[i].w_init_rc != 0) {
			if (srv->srv_workers[i].w_started)
				*st = srv->srv_workers[i].w_init_st;
			else
				status_fail(st, "INTERNAL_ERROR", "cannot start worker %d", i);
			rpc_server_join(srv);
			rpc_server_release(srv);
			return -1;
		}
	}
	for (size_t i = 0; i < opts->n_urls; i++) {
		if (rpc_listen(srv, opts->urls[i], st) != 0) {
			rpc_server_join(srv);
			rpc_server_release(srv);
			return -1;
		}
	}
	*out = srv;
	return 0;
}

void rpc_server_quiesce(struct rpc_server *srv)
{
	/* Only threads here: nothing in nng that could block (see transport.h). */
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
