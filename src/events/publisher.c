/* Event publisher thread over an nng pub0 socket (see publisher.h), and
 * its metrics: events sent (counted as they go), subscribers connected
 * (the socket's pipes, from nng's statistics at scrape time). */
#include "events/publisher.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/event_store.h"

#define PUBLISH_BATCH 1000

struct publisher {
	nng_socket p_sock;
	sqlite3 *p_db;
	pthread_t p_thread;
	pthread_mutex_t p_mu;
	pthread_cond_t p_cv;
	int64_t p_committed; /* highest id committed (from the writer) */
	int64_t p_sent; /* highest id sent */
	int p_stopping;
	int p_heartbeat_ms;
	struct metrics_family *p_published; /* events sent, heartbeats not counted */
};

/* Sends one event as "<type> NUL <packed Event>". */
static void publisher_send(struct publisher *p, const Beebeebrain__V1__Event *ev)
{
	size_t tlen = strlen(ev->event_type), plen = beebeebrain__v1__event__get_packed_size(ev);
	nng_msg *msg;
	int rv;

	if (nng_msg_alloc(&msg, tlen + 1 + plen) != 0)
		xalloc_oom(tlen + 1 + plen);
	memcpy(nng_msg_body(msg), ev->event_type, tlen + 1);
	beebeebrain__v1__event__pack(ev, (uint8_t *)nng_msg_body(msg) + tlen + 1);
	if ((rv = nng_sendmsg(p->p_sock, msg, 0)) != 0) {
		nng_msg_free(msg);
		log_warn("events", "publish of event %lld failed: %s", (long long)ev->id, nng_strerror(rv));
		return;
	}
	if (ev->payload_case != BEEBEEBRAIN__V1__EVENT__PAYLOAD_HEARTBEAT)
		metrics_add(p->p_published, NULL, 1);
}

static void publisher_heartbeat(struct publisher *p, int64_t head)
{
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__Heartbeat hb = BEEBEEBRAIN__V1__HEARTBEAT__INIT;

	hb.head_id = head;
	ev.event_type = "sys.heartbeat";
	ev.created_at_ms = clock_now_ms();
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_HEARTBEAT;
	ev.heartbeat = &hb;
	publisher_send(p, &ev);
}

/* Sends committed events in (from, to], in batches. Returns the last id sent. */
static int64_t publisher_catch_up(struct publisher *p, int64_t from, int64_t to)
{
	while (from < to) {
		Beebeebrain__V1__Event **evs;
		struct arena a;
		bbb_status st;
		size_t n = 0;

		arena_init(&a);
		status_clear(&st);
		/* A batch is also capped by bytes (one page), like a reply. */
		if (store_event_list(p->p_db, from, to, PUBLISH_BATCH, "", 0, &a, &evs, &n, NULL, &st) != 0) {
			log_error("events", "cannot read events after %lld: %s", (long long)from, st.message);
			arena_reset(&a);
			break;
		}
		for (size_t i = 0; i < n; i++) {
			publisher_send(p, evs[i]);
			from = evs[i]->id;
		}
		arena_reset(&a);
		if (n == 0)
			break; /* committed ids can be missing only if pruned meanwhile */
	}
	return from;
}

static void *publisher_main(void *arg)
{
	struct publisher *p = arg;
	int64_t next_beat = clock_mono_ms() + p->p_heartbeat_ms;

	pthread_setname_np(pthread_self(), "bbb:publisher");

	pthread_mutex_lock(&p->p_mu);
	for (;;) {
		int64_t now = clock_mono_ms(), target;
		int stopping;

		while (!p->p_stopping && p->p_committed <= p->p_sent && now < next_beat) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int64_t wait = next_beat - now;
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&p->p_cv, &p->p_mu, &ts);
			now = clock_mono_ms();
		}
		target = p->p_committed;
		stopping = p->p_stopping;
		int64_t sent = p->p_sent;
		pthread_mutex_unlock(&p->p_mu);

		if (target > sent)
			sent = publisher_catch_up(p, sent, target);
		if (clock_mono_ms() >= next_beat) {
			publisher_heartbeat(p, sent);
			next_beat = clock_mono_ms() + p->p_heartbeat_ms;
		}

		pthread_mutex_lock(&p->p_mu);
		p->p_sent = sent;
		if (stopping && p->p_committed <= p->p_sent)
			break;
	}
	pthread_mutex_unlock(&p->p_mu);
	return NULL;
}

/* A listener on url, with the certificate when its transport takes one. */
static int publisher_listen(nng_socket sock, const char *url, nng_tls_config *tls)
{
	nng_listener l;
	int rv;

	if ((rv = nng_listener_create(&l, sock, url)) != 0)
		return rv;
	if (tls != NULL && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tls)) != 0 && rv != NNG_ENOTSUP) {
		nng_listener_close(l);
		return rv;
	}
	if ((rv = nng_listener_start(l, 0)) != 0)
		nng_listener_close(l);
	return rv;
}

int publisher_start(struct publisher **out, struct store *s, const struct publisher_options *o, bbb_status *st)
{
	struct publisher *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t attr;
	int rv;

	p->p_heartbeat_ms = o->heartbeat_ms > 0 ? o->heartbeat_ms : 1000;
	p->p_published = metrics_family(
		metrics_default(),
		&(struct metrics_spec){
			METRICS_COUNTER, "beebeebrain_events_published_total",
			"Events sent on the pub socket (heartbeats not counted); a subscriber that falls "
			"behind may still miss some (docs/events.md).",
			NULL, 0, NULL, 0});
	if ((rv = nng_pub0_open(&p->p_sock)) != 0) {
		free(p);
		return status_fail(st, "INTERNAL_ERROR", "cannot open the pub socket: %s", nng_strerror(rv));
	}
	for (size_t i = 0; i < o->n_urls; i++) {
		if ((rv = publisher_listen(p->p_sock, o->urls[i], o->tls)) != 0) {
			nng_close(p->p_sock);
			free(p);
			return status_fail(st, "VALIDATION_ERROR", "cannot publish events on %s: %s", o->urls[i],
					   nng_strerror(rv));
		}
	}
	if (store_reader_open(s, &p->p_db, st) != 0) {
		nng_close(p->p_sock);
		free(p);
		return -1;
	}
	p->p_sent = p->p_committed = store_event_head(p->p_db);
	pthread_mutex_init(&p->p_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->p_cv, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&p->p_thread, NULL, publisher_main, p) != 0) {
		store_conn_close(p->p_db);
		nng_close(p->p_sock);
		free(p);
		return status_fail(st, "INTERNAL_ERROR", "cannot start the publisher thread");
	}
	*out = p;
	return 0;
}

void publisher_notify(void *publisher, int64_t last_event_id)
{
	struct publisher *p = publisher;

	pthread_mutex_lock(&p->p_mu);
	if (last_event_id > p->p_committed) {
		p->p_committed = last_event_id;
		pthread_cond_signal(&p->p_cv);
	}
	pthread_mutex_unlock(&p->p_mu);
}

int64_t publisher_sent_id(struct publisher *p)
{
	int64_t id;

	pthread_mutex_lock(&p->p_mu);
	id = p->p_sent;
	pthread_mutex_unlock(&p->p_mu);
	return id;
}

void publisher_stop(struct publisher *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->p_mu);
	p->p_stopping = 1;
	pthread_cond_signal(&p->p_cv);
	pthread_mutex_unlock(&p->p_mu);
	pthread_join(p->p_thread, NULL);
	store_conn_close(p->p_db);
	nng_close(p->p_sock);
	pthread_mutex_destroy(&p->p_mu);
	pthread_cond_destroy(&p->p_cv);
	free(p);
}

/* The pub socket's pipes in a snapshot of nng's statistics; -1 when not
 * found. The tree is walked by hand: nng_stat_find_socket of nng 1.5.2
 * returns the wrong node. */
static int64_t publisher_pipes(nng_socket sock)
{
	nng_stat *root, *pipes = NULL;
	int64_t n = -1;

	if (nng_stats_get(&root) != 0)
		return -1;
	for (nng_stat *s = nng_stat_child(root); s != NULL && pipes == NULL; s = nng_stat_next(s)) {
		nng_stat *id = nng_stat_find(s, "id");
		if (strcmp(nng_stat_name(s), "socket") == 0 && id != NULL &&
		    nng_stat_value(id) == (uint64_t)nng_socket_id(sock))
			pipes = nng_stat_find(s, "pipes");
	}
	if (pipes != NULL)
		n = (int64_t)nng_stat_value(pipes);
	nng_stats_free(root);
	return n;
}

int64_t publisher_subscribers(struct publisher *p)
{
	return publisher_pipes(p->p_sock);
}
