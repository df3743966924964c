/* Event publisher job over an nng pub0 socket (see publisher.h), and
 * its metrics: events sent (counted as they go), subscribers connected
 * (the socket's pipes, from nng's statistics at scrape time). */
#include "events/publisher.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include "common/clock.h"
#include "common/job_thread.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/xalloc.h"
#include "store/event_store.h"

#define PUBLISH_BATCH 1000
/* Batches per turn on the shared thread: the stream hub's turn comes
 * between them when a backlog is sent. */
#define PUBLISH_TURN_BATCHES 4

struct publisher {
	nng_socket p_sock;
	struct db *p_db; /* the job's */
	struct job_thread *p_jt;
	struct job p_job;
	int64_t p_next_beat; /* the job's: CLOCK_MONOTONIC ms */
	pthread_mutex_t p_mu;
	int64_t p_committed; /* highest id committed (from the writer), under p_mu */
	int64_t p_sent; /* highest id sent, under p_mu */
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

/* Sends committed events in (from, to], at most `batches` batches of them.
 * Returns the last id sent. */
static int64_t publisher_catch_up(struct publisher *p, int64_t from, int64_t to, int batches)
{
	while (from < to && batches-- > 0) {
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

/* A turn on the events thread: sends what was committed since the last one
 * (a few batches; the rest in the next turn, at once), and the heartbeat
 * when it is due. */
static int64_t publisher_turn(void *arg, int64_t now)
{
	struct publisher *p = arg;
	int64_t target, sent;

	pthread_mutex_lock(&p->p_mu);
	target = p->p_committed;
	sent = p->p_sent;
	pthread_mutex_unlock(&p->p_mu);
	if (target > sent)
		sent = publisher_catch_up(p, sent, target, PUBLISH_TURN_BATCHES);
	if (now >= p->p_next_beat) {
		publisher_heartbeat(p, sent);
		p->p_next_beat = clock_mono_ms() + p->p_heartbeat_ms;
	}
	pthread_mutex_lock(&p->p_mu);
	p->p_sent = sent;
	pthread_mutex_unlock(&p->p_mu);
	return sent < target ? JOB_NOW : p->p_next_beat;
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

int publisher_start(struct publisher **out, struct store *s, struct job_thread *jt, const struct publisher_options *o,
		    bbb_status *st)
{
	struct publisher *p = xcalloc(1, sizeof(*p));
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
	p->p_next_beat = clock_mono_ms() + p->p_heartbeat_ms;
	p->p_jt = jt;
	p->p_job.j_run = publisher_turn;
	p->p_job.j_arg = p;
	job_thread_add(jt, &p->p_job);
	*out = p;
	return 0;
}

void publisher_notify(void *publisher, int64_t last_event_id)
{
	struct publisher *p = publisher;

	int newer;

	pthread_mutex_lock(&p->p_mu);
	newer = last_event_id > p->p_committed;
	if (newer)
		p->p_committed = last_event_id;
	pthread_mutex_unlock(&p->p_mu);
	if (newer)
		job_poke(&p->p_job);
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
	job_thread_remove(p->p_jt, &p->p_job);
	/* No turn runs any more, and the writer has stopped: the rest here. */
	p->p_sent = publisher_catch_up(p, p->p_sent, p->p_committed, INT32_MAX);
	store_conn_close(p->p_db);
	nng_close(p->p_sock);
	pthread_mutex_destroy(&p->p_mu);
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
