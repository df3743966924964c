/*
 * Event streams over HTTP: the SSE route (GET /api/v1/events/stream) and
 * Connect server streaming (EventService/Subscribe) share one hub; only the
 * framing differs.
 *
 * No thread per client. One hub, a job on the events thread it shares with
 * the event publisher (common/job_thread.h), with its own read connection (a
 * state from the server's worker_init), holds every open stream: a cursor
 * (the last id it has passed), its filters, its limits and a small buffer
 * of bytes not yet sent. After every commit (stream_hub_poke), every second
 * and when a stream opens, the hub reads the new rows once, in batches from
 * the lowest cursor, appends the frames to each stream whose filters they
 * match, and resumes its connection. A stream's response is a
 * libmicrohttpd content reader that hands out the buffered bytes and, when
 * there are none, suspends its connection until the hub resumes it.
 *
 * Flow control instead of loss: a stream whose buffer holds more than
 * STREAM_BUFFER_HIGH bytes (a slow reader, or a long replay) takes no more
 * events until its reader has drained it below STREAM_BUFFER_LOW; its cursor
 * waits, and it reads its events from the store when it goes on. So replay
 * of any history and a slow client both cost at most about one high mark of
 * memory, and nothing is ever dropped; a client that stops reading
 * altogether is closed by libmicrohttpd's idle timeout and resumes from its
 * last id.
 *
 * Threads and locks: h_mu guards the list, every stream's buffer and flags;
 * cursors and counters are the hub job's (set by stream_open before the
 * stream is listed). A stream is freed by the last of its two owners: the
 * hub (once it is closed or the hub stops) and the response (libmicrohttpd's
 * free callback).
 */
#ifndef BBB_HTTP_STREAM_H
#define BBB_HTTP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "beebeebrain/v1/events.pb-c.h"
#include "common/arena.h"
#include "common/job_thread.h"
#include <beebeebrain/status.h>

#define STREAM_BUFFER_HIGH ((size_t)64 << 10)
#define STREAM_BUFFER_LOW ((size_t)16 << 10)
#define STREAM_BATCH 256

/* Reads up to `limit` events with id > after_id, ascending, every project
 * and type, with a state from worker_init; *head gets the highest id. The
 * events are allocated from a. */
typedef int (*stream_read_fn)(void *worker, int64_t after_id, int limit, struct arena *a, Beebeebrain__V1__Event ***out,
			      size_t *n, int64_t *head, bbb_status *st);

enum stream_framing {
	STREAM_SSE, /* text/event-stream */
	STREAM_CONNECT_PROTO, /* application/connect+proto envelopes */
	STREAM_CONNECT_JSON, /* application/connect+json envelopes */
};

struct stream_spec {
	enum stream_framing sp_framing;
	int64_t sp_after_id; /* events with id > sp_after_id */
	int64_t sp_project_id; /* 0: all */
	const char *sp_type_prefix; /* "" or NULL: all (copied) */
	int64_t sp_max_events; /* 0: no limit; the stream ends after that many */
	int sp_heartbeat_ms;
	int64_t sp_deadline_ms; /* CLOCK_MONOTONIC; 0: none (Connect-Timeout-Ms) */
};

struct stream_hub;

/* Adds the hub's job to jt (which must outlive the hub); `worker` (not
 * owned, used by the hub's job only) is what `read` is called with. 0, or -1
 * with st set. */
int stream_hub_start(struct stream_hub **out, stream_read_fn read, void *worker, struct job_thread *jt, bbb_status *st);
/* Something committed: read the new events. NULL: nothing. */
void stream_hub_poke(struct stream_hub *h);
/* The response of a new stream on conn, or NULL when the hub is stopping.
 * The caller queues it (adding its headers) and destroys its reference. */
struct MHD_Response *stream_open(struct stream_hub *h, struct MHD_Connection *conn, const struct stream_spec *sp);
/* Ends every stream (SSE: the connection closes; Connect: an end-of-stream
 * message unavailable "the server is stopping"), refuses new ones and
 * takes the hub's job off its thread. The streams' last bytes go out while the listener
 * drains. NULL: nothing. */
void stream_hub_quiesce(struct stream_hub *h);
/* Frees the hub, after the daemons serving its streams have stopped.
 * NULL: nothing. */
void stream_hub_free(struct stream_hub *h);
/* Open streams (for tests and metrics). */
size_t stream_hub_count(struct stream_hub *h);

#endif
