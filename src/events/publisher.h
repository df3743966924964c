/*
 * The event publisher: after every commit that wrote events, the writer calls
 * publisher_notify with the highest committed id; the publisher, a job on the
 * events thread (common/job_thread.h) it shares with the HTTP stream hub,
 * reads the new rows from its own read connection and sends each, in id order, on
 * an nng pub0 socket as "<event_type> NUL <packed Event>". Every heartbeat
 * interval it also sends "sys.heartbeat NUL <Event{heartbeat{head_id}}>", so a
 * subscriber that lost the tail of the stream notices.
 *
 * pub0 drops messages for subscribers that fall behind; that is by design.
 * Subscribers repair gaps with EventService/Replay (docs/events.md).
 */
#ifndef BBB_PUBLISHER_H
#define BBB_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include <beebeebrain/status.h>

#include "common/job_thread.h"
#include "store/store.h"

struct publisher_options {
	const char *const *urls;
	size_t n_urls;
	int heartbeat_ms; /* 0: 1000 */
	/* The certificate of tls+tcp:// and wss:// URLs (NULL: none). Held by
	 * the caller until publisher_stop. */
	struct nng_tls_config *tls;
};

struct publisher;

/* Listens on every URL and adds the publisher's job to jt, which must outlive
 * it. Events already in the store are not sent again: publishing starts
 * after the current head. */
int publisher_start(struct publisher **out, struct store *s, struct job_thread *jt, const struct publisher_options *o,
		    bbb_status *st);
/* Store commit hook: events up to last_event_id are committed. Any thread. */
void publisher_notify(void *publisher, int64_t last_event_id);
/* Highest id sent so far. */
int64_t publisher_sent_id(struct publisher *p);
/* Connections to the pub socket right now (nng's statistics), or -1 when
 * nng does not say. Any thread. */
int64_t publisher_subscribers(struct publisher *p);
/* Takes the job off its thread, sends what is committed but not yet sent,
 * and closes the socket. After the writer stopped. */
void publisher_stop(struct publisher *p);

#endif
