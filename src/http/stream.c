/* The event stream hub (see stream.h). */
#include "http/stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beebeebrain/v1/event.pb-c.h"
#include "common/clock.h"
#include "common/dbuf.h"
#include "common/job_thread.h"
#include "common/log.h"
#include "common/pbjson.h"
#include "common/xalloc.h"
#include "http/connect.h"
#include "http/sse.h"

#define STREAM_TICK_MS 1000
#define STREAM_PASS_BATCHES 64 /* per pass; a pass continues after a poke */

struct stream {
	struct stream_hub *st_hub;
	struct MHD_Connection *st_conn;
	struct stream_spec st_spec;
	char st_prefix[72];
	/* The hub thread's */
	int64_t st_cursor;
	int64_t st_sent; /* events appended */
	int64_t st_last_out_ms; /* CLOCK_MONOTONIC ms of the last frame appended */
	/* Under h_mu */
	char *st_buf;
	size_t st_off, st_len, st_cap;
	int st_suspended; /* the reader suspended the connection */
	int st_ending; /* no more frames: end once the buffer is out */
	int st_closed; /* the response is gone */
	int st_fresh; /* 1: opened, 2: in a pass, 0: had its first frames */
	int st_refs; /* the hub's and the response's */
	struct stream *st_next;
};

struct stream_hub {
	stream_read_fn h_read;
	void *h_worker;
	struct job_thread *h_jt;
	struct job h_job; /* a turn: read new events, heartbeats, deadlines */
	pthread_mutex_t h_mu;
	struct stream *h_streams; /* under h_mu */
	size_t h_count;
	int h_stop, h_stopping; /* under h_mu; h_stop: the job is off its thread */
	int64_t h_head; /* the job's: the highest id seen */
};

/* One event's frames, made once per batch for every stream that takes it. */
struct stream_frames {
	char *f_sse;
	size_t f_sse_len;
	uint8_t *f_conn[2]; /* proto, json envelopes */
	size_t f_conn_len[2];
};

/* A turn for the hub soon, unless it stopped. Under h_mu. */
static void stream_hub_wake(struct stream_hub *h)
{
	if (!h->h_stop)
		job_poke(&h->h_job);
}

/* ---- buffers (under h_mu) */

static void stream_append(struct stream *s, const void *data, size_t len)
{
	if (s->st_off > 0 && s->st_off == s->st_len)
		s->st_off = s->st_len = 0;
	if (s->st_len + len > s->st_cap) {
		if (s->st_off > 0) {
			memmove(s->st_buf, s->st_buf + s->st_off, s->st_len - s->st_off);
			s->st_len -= s->st_off;
			s->st_off = 0;
		}
		if (s->st_len + len > s->st_cap) {
			size_t cap = s->st_cap == 0 ? 1024 : s->st_cap;
			while (cap < s->st_len + len)
				cap *= 2;
			s->st_buf = xrealloc(s->st_buf, cap);
			s->st_cap = cap;
		}
	}
	memcpy(s->st_buf + s->st_len, data, len);
	s->st_len += len;
}

static size_t stream_pending(const struct stream *s)
{
	return s->st_len - s->st_off;
}

static void stream_wake(struct stream *s)
{
	if (s->st_suspended) {
		s->st_suspended = 0;
		MHD_resume_connection(s->st_conn);
	}
}

/* An enveloped Connect message. */
static void stream_append_envelope(struct stream *s, uint8_t flags, const void *data, size_t len)
{
	uint8_t h[CONNECT_ENVELOPE_HEADER];

	connect_envelope_header(h, flags, (uint32_t)len);
	stream_append(s, h, sizeof(h));
	stream_append(s, data, len);
}

/* Ends s: the end-of-stream message for Connect (err NULL: success). */
static void stream_end(struct stream *s, int code, const char *reason, const char *message)
{
	if (s->st_ending)
		return;
	if (s->st_spec.sp_framing != STREAM_SSE) {
		Beebeebrain__V1__RpcResponse e = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
		size_t n;
		char *text;

		e.code = code;
		e.trace_id = "";
		e.reason = (char *)reason;
		e.message = (char *)message;
		text = connect_end_stream_json(code != 0 ? &e : NULL, &n);
		stream_append_envelope(s, CONNECT_FLAG_END_STREAM, text, n);
		free(text);
	}
	s->st_ending = 1;
	stream_wake(s);
}

/* ---- the response (libmicrohttpd's thread) */

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	struct stream_hub *h = s->st_hub;
	size_t n;

	(void)pos;
	pthread_mutex_lock(&h->h_mu);
	n = stream_pending(s);
	if (n > 0) {
		if (n > max)
			n = max;
		memcpy(buf, s->st_buf + s->st_off, n);
		s->st_off += n;
		/* Drained below the low mark: the hub may go on with it. */
		if (stream_pending(s) < STREAM_BUFFER_LOW && stream_pending(s) + n >= STREAM_BUFFER_LOW) {
			stream_hub_wake(h);
		}
		pthread_mutex_unlock(&h->h_mu);
		return (ssize_t)n;
	}
	if (s->st_ending) {
		pthread_mutex_unlock(&h->h_mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	/* Nothing to send: libmicrohttpd would call again at once; sleep
	 * until the hub has something (stream_wake). */
	s->st_suspended = 1;
	MHD_suspend_connection(s->st_conn);
	pthread_mutex_unlock(&h->h_mu);
	return 0;
}

static void stream_unref(struct stream *s)
{
	if (--s->st_refs > 0)
		return;
	free(s->st_buf);
	free(s);
}

static void stream_response_gone(void *cls)
{
	struct stream *s = cls;
	struct stream_hub *h = s->st_hub;

	pthread_mutex_lock(&h->h_mu);
	s->st_closed = 1;
	s->st_suspended = 0;
	stream_hub_wake(h);
	stream_unref(s);
	pthread_mutex_unlock(&h->h_mu);
}

/* ---- the hub thread */

static int stream_matches(const struct stream *s, const Beebeebrain__V1__Event *ev)
{
	if (s->st_spec.sp_project_id != 0 && ev->project_id != s->st_spec.sp_project_id)
		return 0;
	return strncmp(ev->event_type, s->st_prefix, strlen(s->st_prefix)) == 0;
}

/* Makes the frames of ev for the framing of s, once per batch. */
static void stream_frames_make(struct stream_frames *f, const Beebeebrain__V1__Event *ev, enum stream_framing fr)
{
	if (fr == STREAM_SSE && f->f_sse == NULL) {
		struct dbuf b;
		char *json = sse_record_json(ev);

		dbuf_init(&b, (size_t)1 << 30);
		sse_frame(&b, ev->id, ev->event_type, json != NULL ? json : "{}");
		free(json);
		f->f_sse_len = dbuf_len(&b);
		f->f_sse = dbuf_take(&b);
		return;
	}
	int k = fr == STREAM_CONNECT_JSON;
	if (fr == STREAM_SSE || f->f_conn[k] != NULL)
		return;
	Beebeebrain__V1__SubscribeResponse r = BEEBEEBRAIN__V1__SUBSCRIBE_RESPONSE__INIT;
	r.event = (Beebeebrain__V1__Event *)ev;
	if (k) {
		char *text = pbjson_dumps(&r.base, 0);
		f->f_conn[k] = (uint8_t *)(text != NULL ? text : xstrdup("{}"));
		f->f_conn_len[k] = strlen((char *)f->f_conn[k]);
	} else {
		f->f_conn_len[k] = protobuf_c_message_get_packed_size(&r.base);
		f->f_conn[k] = xmalloc(f->f_conn_len[k] + 1);
		protobuf_c_message_pack(&r.base, f->f_conn[k]);
	}
}

static void stream_frames_free(struct stream_frames *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].f_sse);
		free(f[i].f_conn[0]);
		free(f[i].f_conn[1]);
	}
	free(f);
}

/* Whether s takes events now. */
static int stream_open_for_events(const struct stream *s)
{
	return !s->st_closed && !s->st_ending && stream_pending(s) < STREAM_BUFFER_HIGH;
}

/* Appends to s the events of the batch past its cursor, until its buffer is
 * over the high mark or its limit is reached. Under h_mu. */
static void stream_take(struct stream *s, Beebeebrain__V1__Event **evs, struct stream_frames *f, size_t n, int64_t now)
{
	int woke = 0;

	for (size_t i = 0; i < n && stream_open_for_events(s); i++) {
		const Beebeebrain__V1__Event *ev = evs[i];
		enum stream_framing fr = s->st_spec.sp_framing;

		if (ev->id <= s->st_cursor)
			continue;
		s->st_cursor = ev->id;
		if (!stream_matches(s, ev))
			continue;
		stream_frames_make(&f[i], ev, fr);
		if (fr == STREAM_SSE)
			stream_append(s, f[i].f_sse, f[i].f_sse_len);
		else
			stream_append_envelope(s, 0, f[i].f_conn[fr == STREAM_CONNECT_JSON],
					       f[i].f_conn_len[fr == STREAM_CONNECT_JSON]);
		s->st_last_out_ms = now;
		woke = 1;
		if (s->st_spec.sp_max_events > 0 && ++s->st_sent >= s->st_spec.sp_max_events)
			stream_end(s, 0, NULL, NULL);
	}
	if (woke)
		stream_wake(s);
}

/* The lowest cursor of the streams that take events; INT64_MAX: none. The
 * new streams are in this pass now (st_fresh 2). */
static int64_t stream_low_cursor(struct stream_hub *h)
{
	int64_t low = INT64_MAX;

	for (struct stream *s = h->h_streams; s != NULL; s = s->st_next) {
		if (s->st_fresh == 1)
			s->st_fresh = 2;
		if (stream_open_for_events(s) && s->st_cursor < low)
			low = s->st_cursor;
	}
	return low;
}

/* Reads what the streams have not seen, in batches; appends it. 1 when
 * there is more to read. */
static int stream_pass(struct stream_hub *h)
{
	for (int b = 0; b < STREAM_PASS_BATCHES; b++) {
		Beebeebrain__V1__Event **evs = NULL;
		struct stream_frames *f;
		struct arena a;
		size_t n = 0;
		int64_t low, head = 0, now;
		bbb_status st;

		pthread_mutex_lock(&h->h_mu);
		low = stream_low_cursor(h);
		pthread_mutex_unlock(&h->h_mu);
		if (low == INT64_MAX || (low >= h->h_head && b > 0))
			return 0;
		arena_init(&a);
		status_clear(&st);
		if (h->h_read(h->h_worker, low, STREAM_BATCH, &a, &evs, &n, &head, &st) != 0) {
			log_warn("http", "event streams: cannot read events after %lld: %s", (long long)low,
				 st.message);
			arena_reset(&a);
			return 0;
		}
		h->h_head = head;
		f = xcalloc(n > 0 ? n : 1, sizeof(*f));
		now = clock_mono_ms();
		pthread_mutex_lock(&h->h_mu);
		for (struct stream *s = h->h_streams; s != NULL; s = s->st_next)
			stream_take(s, evs, f, n, now);
		pthread_mutex_unlock(&h->h_mu);
		stream_frames_free(f, n);
		arena_reset(&a);
		if (n < STREAM_BATCH)
			return 0;
	}
	return 1; /* more to read: go on after the other jobs' turns */
}

/* A heartbeat: SSE's comment, or Connect's SubscribeResponse with the
 * head id and no event. Under h_mu. */
static void stream_heartbeat(struct stream_hub *h, struct stream *s, int64_t now)
{
	if (s->st_spec.sp_framing == STREAM_SSE) {
		stream_append(s, SSE_HEARTBEAT, strlen(SSE_HEARTBEAT));
	} else {
		Beebeebrain__V1__SubscribeResponse r = BEEBEEBRAIN__V1__SUBSCRIBE_RESPONSE__INIT;
		r.head_id = h->h_head;
		if (s->st_spec.sp_framing == STREAM_CONNECT_JSON) {
			char *text = pbjson_dumps(&r.base, 0);
			if (text == NULL)
				text = xstrdup("{}");
			stream_append_envelope(s, 0, text, strlen(text));
			free(text);
		} else {
			uint8_t buf[32];
			size_t len = protobuf_c_message_pack(&r.base, buf);
			stream_append_envelope(s, 0, buf, len);
		}
	}
	s->st_last_out_ms = now;
	stream_wake(s);
}

/* Heartbeats, deadlines and the closed streams. Under h_mu. Returns the
 * CLOCK_MONOTONIC ms of the next heartbeat or deadline. A stream that has
 * nothing to send after its first pass gets a heartbeat at once:
 * libmicrohttpd sends the response headers with the first bytes of the
 * body, and a client waits for them. */
static int64_t stream_tend(struct stream_hub *h, int64_t now)
{
	int64_t next = now + STREAM_TICK_MS;

	for (struct stream **pp = &h->h_streams; *pp != NULL;) {
		struct stream *s = *pp;
		int fresh = s->st_fresh == 2; /* a whole pass saw it */

		if (s->st_closed) {
			*pp = s->st_next;
			h->h_count--;
			stream_unref(s);
			continue;
		}
		pp = &s->st_next;
		if (fresh)
			s->st_fresh = 0;
		if (s->st_ending)
			continue;
		if (s->st_spec.sp_deadline_ms != 0 && now >= s->st_spec.sp_deadline_ms) {
			stream_end(s, BBB_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "the stream reached its deadline");
			continue;
		}
		if (stream_pending(s) == 0 && (fresh || now >= s->st_last_out_ms + s->st_spec.sp_heartbeat_ms))
			stream_heartbeat(h, s, now);
		if (s->st_last_out_ms + s->st_spec.sp_heartbeat_ms < next)
			next = s->st_last_out_ms + s->st_spec.sp_heartbeat_ms;
		if (s->st_spec.sp_deadline_ms != 0 && s->st_spec.sp_deadline_ms < next)
			next = s->st_spec.sp_deadline_ms;
	}
	return next;
}

/* A turn on the events thread: a pass, then heartbeats and deadlines; the
 * next turn at the next of those, or at once when there is more to read. */
static int64_t stream_hub_turn(void *arg, int64_t now)
{
	struct stream_hub *h = arg;
	int more = stream_pass(h);
	int64_t next;

	(void)now;
	pthread_mutex_lock(&h->h_mu);
	next = stream_tend(h, clock_mono_ms());
	pthread_mutex_unlock(&h->h_mu);
	return more ? JOB_NOW : next;
}

/* ---- the hub's life */

int stream_hub_start(struct stream_hub **out, stream_read_fn read, void *worker, struct job_thread *jt, bbb_status *st)
{
	struct stream_hub *h = xcalloc(1, sizeof(*h));

	(void)st;
	h->h_read = read;
	h->h_worker = worker;
	pthread_mutex_init(&h->h_mu, NULL);
	h->h_jt = jt;
	h->h_job.j_run = stream_hub_turn;
	h->h_job.j_arg = h;
	job_thread_add(jt, &h->h_job);
	*out = h;
	return 0;
}

void stream_hub_poke(struct stream_hub *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->h_mu);
	if (h->h_count > 0) /* a stream opened later starts with a pass of its own */
		stream_hub_wake(h);
	pthread_mutex_unlock(&h->h_mu);
}

struct MHD_Response *stream_open(struct stream_hub *h, struct MHD_Connection *conn, const struct stream_spec *sp)
{
	struct stream *s = xcalloc(1, sizeof(*s));
	struct MHD_Response *res;

	s->st_hub = h;
	s->st_conn = conn;
	s->st_spec = *sp;
	snprintf(s->st_prefix, sizeof(s->st_prefix), "%s", sp->sp_type_prefix != NULL ? sp->sp_type_prefix : "");
	s->st_spec.sp_type_prefix = s->st_prefix;
	s->st_cursor = sp->sp_after_id;
	s->st_last_out_ms = clock_mono_ms();
	s->st_refs = 2;
	s->st_fresh = 1;
	res = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, stream_reader, s, stream_response_gone);
	if (res == NULL) {
		free(s);
		return NULL;
	}
	pthread_mutex_lock(&h->h_mu);
	if (h->h_stopping) {
		pthread_mutex_unlock(&h->h_mu);
		MHD_destroy_response(res); /* calls stream_response_gone: one ref left */
		free(s);
		return NULL;
	}
	s->st_next = h->h_streams;
	h->h_streams = s;
	h->h_count++;
	stream_hub_wake(h);
	pthread_mutex_unlock(&h->h_mu);
	return res;
}

void stream_hub_quiesce(struct stream_hub *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->h_mu);
	if (h->h_stop) {
		pthread_mutex_unlock(&h->h_mu);
		return;
	}
	h->h_stopping = 1;
	for (struct stream *s = h->h_streams; s != NULL; s = s->st_next)
		if (!s->st_closed)
			stream_end(s, BBB_UNAVAILABLE, "SHUTTING_DOWN", "the server is stopping");
	pthread_mutex_unlock(&h->h_mu);
	/* The streams' end frames are out of the hub's hands: no turn needed. */
	job_thread_remove(h->h_jt, &h->h_job);
	pthread_mutex_lock(&h->h_mu);
	h->h_stop = 1;
	pthread_mutex_unlock(&h->h_mu);
}

void stream_hub_free(struct stream_hub *h)
{
	if (h == NULL)
		return;
	while (h->h_streams != NULL) {
		struct stream *s = h->h_streams;
		h->h_streams = s->st_next;
		stream_unref(s);
	}
	pthread_mutex_destroy(&h->h_mu);
	free(h);
}

size_t stream_hub_count(struct stream_hub *h)
{
	size_t n;

	pthread_mutex_lock(&h->h_mu);
	n = h->h_count;
	pthread_mutex_unlock(&h->h_mu);
	return n;
}
