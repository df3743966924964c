/*
 * Lossless event subscription.
 *
 * The server publishes every committed event on an nng pub socket, but pub/sub
 * drops messages when a subscriber falls behind. A bbb_subscriber turns that
 * lossy stream into an exact one: it subscribes first, replays from the store
 * (EventService/Replay), merges by id, drops duplicates, and fills every gap
 * -- an id jump, or a heartbeat whose head id is ahead of what it has seen --
 * with Replay(after_id). bbb_subscriber_next returns each matching event
 * exactly once, in id order. Resuming from a saved id (after_id) continues
 * without loss; events already pruned by retention are reported as
 * OUT_OF_RANGE EVENTS_PRUNED, never skipped silently.
 *
 * Threading: a subscriber belongs to one thread. It uses `client` for Replay;
 * the client may be shared with other threads.
 */
#ifndef BEEBEEBRAIN_SUBSCRIBER_H
#define BEEBEEBRAIN_SUBSCRIBER_H

#include <beebeebrain/client.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bbb_subscriber_options {
	bbb_client *client; /* required: used for StreamInfo and Replay */
	const char *events_url; /* NULL: $BEEBEEBRAIN_EVENTS_URL, else the server's first pub URL (StreamInfo) */
	int64_t after_id; /* start after this id (0 with from_head = 0: from the oldest kept) */
	int replay_last; /* > 0: start with the last N matching events (1..1000) */
	int from_head; /* 1: only events committed after opening (ignored with after_id/replay_last) */
	const char *type_prefix; /* NULL or "": every type; "alert." = alerts only */
	int64_t project_id; /* 0: every project */
	int recv_buffer; /* pub messages buffered by nng (NNG_OPT_RECVBUF), 0: nng's default */
};

typedef struct bbb_subscriber bbb_subscriber;

/* Subscribes and does the initial replay. NULL with *st filled on failure. */
bbb_subscriber *bbb_subscriber_open(const struct bbb_subscriber_options *o, bbb_status *st);
/* The next event: 1 and *ev (free with bbb_free), 0 when none came within
 * timeout_ms (-1 waits without limit), -1 on failure with *st filled. */
int bbb_subscriber_next(bbb_subscriber *s, int timeout_ms, Beebeebrain__V1__Event **ev, bbb_status *st);
/* Id of the last event returned by bbb_subscriber_next (for resuming). */
int64_t bbb_subscriber_last_id(const bbb_subscriber *s);
/* Counters: replays made to fill gaps, duplicates dropped. */
void bbb_subscriber_stats(const bbb_subscriber *s, uint64_t *gap_replays, uint64_t *duplicates);
void bbb_subscriber_close(bbb_subscriber *s);

#ifdef __cplusplus
}
#endif

#endif
