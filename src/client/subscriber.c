/*
 * Lossless subscriber (see include/beebeebrain/subscriber.h).
 *
 * State: `covered` is the id up to which every matching event has been
 * delivered or queued. A pub message with id <= covered is a duplicate; id ==
 * covered + 1 extends the covered range directly; anything further, or a
 * heartbeat whose head is ahead, means events may have been dropped, and a
 * Replay(after_id = covered) loop fills the range up to the reply's head id.
 * Replies are capped by size, so the loop (and the initial last-N replay)
 * goes on from the last event received while the reply says `more`.
 * The socket is read without receive timeouts (a SUB timeout can race message
 * delivery in nng 1.5.2): poll(2) on NNG_OPT_RECVFD, then non-blocking reads.
 */
#include <beebeebrain/subscriber.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_tls.h"
#include "common/xalloc.h"

#define SUB_HEARTBEAT "sys.heartbeat"
#define SUB_REPLAY_LIMIT 1000

struct bbb_subscriber {
	bbb_client *s_client;
	nng_socket s_sock;
	int s_fd;
	char *s_prefix;
	int64_t s_project_id;
	int64_t s_covered;
	int64_t s_last_id;
	Beebeebrain__V1__Event **s_q; /* ring buffer of events ready to deliver */
	size_t s_qcap, s_qhead, s_qlen;
	uint64_t s_gap_replays, s_duplicates;
};

static int sub_fail(bbb_status *st, int code, const char *reason, const char *msg, int rv)
{
	st->code = code;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
	snprintf(st->message, sizeof(st->message), "%.400s%s%s", msg, rv ? ": " : "", rv ? nng_strerror(rv) : "");
	st->n_violations = 0;
	return -1;
}

static int sub_push(bbb_subscriber *s, Beebeebrain__V1__Event *ev)
{
	if (s->s_qlen == s->s_qcap) {
		size_t cap = s->s_qcap ? 2 * s->s_qcap : 256;
		Beebeebrain__V1__Event **q = xmalloc(cap * sizeof(*q));
		for (size_t i = 0; i < s->s_qlen; i++)
			q[i] = s->s_q[(s->s_qhead + i) % s->s_qcap];
		free(s->s_q);
		s->s_q = q;
		s->s_qcap = cap;
		s->s_qhead = 0;
	}
	s->s_q[(s->s_qhead + s->s_qlen++) % s->s_qcap] = ev;
	return 0;
}

static Beebeebrain__V1__Event *sub_pop(bbb_subscriber *s)
{
	Beebeebrain__V1__Event *ev;

	if (s->s_qlen == 0)
		return NULL;
	ev = s->s_q[s->s_qhead];
	s->s_qhead = (s->s_qhead + 1) % s->s_qcap;
	s->s_qlen--;
	return ev;
}

/* Takes the events out of a Replay reply and queues them. */
static int sub_take(bbb_subscriber *s, Beebeebrain__V1__ReplayResponse *r)
{
	for (size_t i = 0; i < r->n_events; i++) {
		Beebeebrain__V1__Event *ev = r->events[i];
		r->events[i] = NULL; /* now ours: freed on its own */
		if (ev->id <= s->s_covered) {
			bbb_free(ev);
			continue;
		}
		s->s_covered = ev->id;
		if (sub_push(s, ev) != 0)
			return -1;
	}
	if (r->head_id > s->s_covered && !r->more)
		s->s_covered = r->head_id;
	return 0;
}

/* One Replay call. A reply that says `more` must hold an event to continue
 * after, else following it would never end. */
static int sub_replay(bbb_subscriber *s, const Beebeebrain__V1__ReplayRequest *req, Beebeebrain__V1__ReplayResponse **r,
		      bbb_status *st)
{
	if (bbb_event_replay(s->s_client, req, r, st) != 0)
		return -1;
	if ((*r)->more && (*r)->n_events == 0) {
		bbb_free(*r);
		return sub_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "Replay answered `more` without an event", 0);
	}
	return 0;
}

/* Replays everything matching after `covered` up to the server's head. */
static int sub_fill(bbb_subscriber *s, bbb_status *st)
{
	Beebeebrain__V1__ReplayRequest req = BEEBEEBRAIN__V1__REPLAY_REQUEST__INIT;
	Beebeebrain__V1__ReplayResponse *r;
	int more;

	req.type_prefix = s->s_prefix;
	req.project_id = s->s_project_id;
	req.limit = SUB_REPLAY_LIMIT;
	do {
		req.after_id = s->s_covered;
		if (sub_replay(s, &req, &r, st) != 0)
			return -1;
		more = r->more;
		int rc = sub_take(s, r);
		bbb_free(r);
		if (rc != 0)
			return sub_fail(st, BBB_INTERNAL, "OUT_OF_MEMORY", "cannot queue replayed events", 0);
	} while (more);
	return 0;
}

static int sub_matches(const bbb_subscriber *s, const Beebeebrain__V1__Event *ev)
{
	return strncmp(ev->event_type, s->s_prefix, strlen(s->s_prefix)) == 0 &&
	       (s->s_project_id == 0 || ev->project_id == s->s_project_id);
}

/* Handles one pub message. */
static int sub_handle(bbb_subscriber *s, nng_msg *msg, bbb_status *st)
{
	const char *body = nng_msg_body(msg);
	size_t len = nng_msg_len(msg);
	const char *nul = memchr(body, '\0', len);
	Beebeebrain__V1__Event *ev;

	if (nul == NULL)
		return 0; /* not ours: ignore */
	ev = beebeebrain__v1__event__unpack(NULL, len - (size_t)(nul + 1 - body), (const uint8_t *)nul + 1);
	if (ev == NULL)
		return 0;
	if (ev->payload_case == BEEBEEBRAIN__V1__EVENT__PAYLOAD_HEARTBEAT) {
		int64_t head = ev->heartbeat->head_id;
		bbb_free(ev);
		if (head > s->s_covered) {
			s->s_gap_replays++;
			return sub_fill(s, st);
		}
		return 0;
	}
	if (ev->id <= s->s_covered) {
		s->s_duplicates++;
		bbb_free(ev);
		return 0;
	}
	if (ev->id == s->s_covered + 1) {
		s->s_covered = ev->id;
		if (!sub_matches(s, ev)) {
			bbb_free(ev);
			return 0;
		}
		return sub_push(s, ev) == 0 ? 0 : sub_fail(st, BBB_INTERNAL, "OUT_OF_MEMORY", "queue", 0);
	}
	/* A gap: what is missing (and this event) comes from the store. */
	bbb_free(ev);
	s->s_gap_replays++;
	return sub_fill(s, st);
}

static int sub_subscribe(bbb_subscriber *s, const char *topic)
{
	return nng_socket_set(s->s_sock, NNG_OPT_SUB_SUBSCRIBE, topic, strlen(topic));
}

/* The pub URL: explicit, from the environment, or the server's first. */
static int sub_url(const struct bbb_subscriber_options *o, char *buf, size_t n, bbb_status *st)
{
	Beebeebrain__V1__StreamInfoRequest req = BEEBEEBRAIN__V1__STREAM_INFO_REQUEST__INIT;
	Beebeebrain__V1__StreamInfoResponse *r;
	const char *env = getenv("BEEBEEBRAIN_EVENTS_URL");

	if (o->events_url != NULL && o->events_url[0] != '\0') {
		snprintf(buf, n, "%s", o->events_url);
		return 0;
	}
	if (env != NULL && env[0] != '\0') {
		snprintf(buf, n, "%s", env);
		return 0;
	}
	if (bbb_event_stream_info(o->client, &req, &r, st) != 0)
		return -1;
	if (r->n_pub_urls == 0) {
		bbb_free(r);
		return sub_fail(st, BBB_UNAVAILABLE, "NO_EVENT_URL", "the server publishes no events", 0);
	}
	snprintf(buf, n, "%s", r->pub_urls[0]);
	bbb_free(r);
	return 0;
}

/* The initial position: last N, after an id, or the current head. */
static int sub_start(bbb_subscriber *s, const struct bbb_subscriber_options *o, bbb_status *st)
{
	if (o->replay_last > 0) {
		Beebeebrain__V1__ReplayRequest req = BEEBEEBRAIN__V1__REPLAY_REQUEST__INIT;
		Beebeebrain__V1__ReplayResponse *r;
		req.last_n = o->replay_last;
		req.type_prefix = s->s_prefix;
		req.project_id = s->s_project_id;
		if (sub_replay(s, &req, &r, st) != 0)
			return -1;
		/* A window too big for one reply stops early: the rest of it (and
		 * whatever came since) is replayed after the last event taken. */
		int more = r->more;
		int rc = sub_take(s, r);
		bbb_free(r);
		if (rc != 0 || !more)
			return rc;
		return sub_fill(s, st);
	}
	if (o->from_head && o->after_id == 0) {
		Beebeebrain__V1__StreamInfoRequest req = BEEBEEBRAIN__V1__STREAM_INFO_REQUEST__INIT;
		Beebeebrain__V1__StreamInfoResponse *r;
		if (bbb_event_stream_info(s->s_client, &req, &r, st) != 0)
			return -1;
		s->s_covered = r->head_id;
		bbb_free(r);
		return 0;
	}
	s->s_covered = o->after_id;
	return sub_fill(s, st);
}

/* Dials url without waiting for the connection (nng keeps trying), with the
 * TLS configuration a tls+tcp:// or wss:// URL needs (client_tls.h). */
static int sub_dial(bbb_subscriber *s, const char *url, char *why, size_t n)
{
	nng_dialer d;
	int rv;

	if ((rv = nng_dialer_create(&d, s->s_sock, url)) != 0)
		return rv;
	if ((rv = client_tls_dialer(d, url, why, n)) != 0 || (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
		nng_dialer_close(d);
	return rv;
}

bbb_subscriber *bbb_subscriber_open(const struct bbb_subscriber_options *o, bbb_status *st)
{
	bbb_subscriber *s;
	char url[512], why[256] = "";
	int rv;

	memset(st, 0, sizeof(*st));
	if (o->client == NULL || o->replay_last < 0 || o->replay_last > 1000 || o->after_id < 0) {
		sub_fail(st, BBB_INVALID_ARGUMENT, "VALIDATION_ERROR",
			 "subscriber needs a client, replay_last 0..1000 and after_id >= 0", 0);
		return NULL;
	}
	if (sub_url(o, url, sizeof(url), st) != 0)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->s_client = o->client;
	s->s_prefix = xstrdup(o->type_prefix != NULL ? o->type_prefix : "");
	s->s_project_id = o->project_id;
	if ((rv = nng_sub0_open(&s->s_sock)) != 0) {
		sub_fail(st, BBB_INTERNAL, "INTERNAL_ERROR", "cannot open a sub socket", rv);
		free(s->s_prefix);
		free(s);
		return NULL;
	}
	/* Subscribe first, then replay: nothing committed after the replay's
	 * head can be missed, only received twice (and dropped). */
	if (o->recv_buffer > 0)
		nng_socket_set_int(s->s_sock, NNG_OPT_RECVBUF, o->recv_buffer);
	if ((rv = sub_subscribe(s, s->s_prefix)) != 0 ||
	    (s->s_prefix[0] != '\0' && (rv = sub_subscribe(s, SUB_HEARTBEAT)) != 0) ||
	    (rv = nng_socket_get_int(s->s_sock, NNG_OPT_RECVFD, &s->s_fd)) != 0 ||
	    (rv = sub_dial(s, url, why, sizeof(why))) != 0) {
		char msg[480];
		snprintf(msg, sizeof(msg), "cannot subscribe to %.200s%s%.250s", url, why[0] ? ": " : "", why);
		sub_fail(st, BBB_UNAVAILABLE, "SERVER_UNREACHABLE", msg, why[0] ? 0 : rv);
		bbb_subscriber_close(s);
		return NULL;
	}
	if (sub_start(s, o, st) != 0) {
		bbb_subscriber_close(s);
		return NULL;
	}
	return s;
}

static int64_t sub_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bbb_subscriber_next(bbb_subscriber *s, int timeout_ms, Beebeebrain__V1__Event **ev, bbb_status *st)
{
	int64_t deadline = timeout_ms >= 0 ? sub_now_ms() + timeout_ms : -1;

	*ev = NULL;
	for (;;) {
		struct pollfd pfd = {.fd = s->s_fd, .events = POLLIN};
		nng_msg *msg;
		int wait;

		if ((*ev = sub_pop(s)) != NULL) {
			s->s_last_id = (*ev)->id;
			return 1;
		}
		wait = deadline < 0 ? -1 : (int)(deadline - sub_now_ms());
		if (deadline >= 0 && wait <= 0)
			return 0;
		if (poll(&pfd, 1, wait) < 0)
			continue; /* EINTR */
		while (nng_recvmsg(s->s_sock, &msg, NNG_FLAG_NONBLOCK) == 0) {
			int rc = sub_handle(s, msg, st);
			nng_msg_free(msg);
			if (rc != 0)
				return -1;
		}
	}
}

int64_t bbb_subscriber_last_id(const bbb_subscriber *s)
{
	return s->s_last_id;
}

void bbb_subscriber_stats(const bbb_subscriber *s, uint64_t *gap_replays, uint64_t *duplicates)
{
	if (gap_replays != NULL)
		*gap_replays = s->s_gap_replays;
	if (duplicates != NULL)
		*duplicates = s->s_duplicates;
}

void bbb_subscriber_close(bbb_subscriber *s)
{
	Beebeebrain__V1__Event *ev;

	if (s == NULL)
		return;
	nng_close(s->s_sock);
	while ((ev = sub_pop(s)) != NULL)
		bbb_free(ev);
	free(s->s_q);
	free(s->s_prefix);
	free(s);
}
