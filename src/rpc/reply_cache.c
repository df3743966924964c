/*
 * Reply cache: a chained hash table of entries, plus a FIFO list in insertion
 * order used for eviction (by age, count and bytes). Eviction walks the FIFO
 * from the oldest end and steps over entries in flight (a RunTask with wait
 * can stay in flight for minutes; it must not stop eviction behind it). One
 * mutex; waiters for an in-flight entry sleep on one condition variable.
 */
#include "rpc/reply_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/xalloc.h"

#define RC_BUCKETS 4096

struct rc_entry {
	char *e_id;
	uint8_t *e_reply; /* NULL while in flight */
	size_t e_len;
	int64_t e_born;
	struct rc_entry *e_chain; /* next in bucket */
	struct rc_entry *e_younger; /* FIFO */
};

struct reply_cache {
	pthread_mutex_t rc_mu;
	pthread_cond_t rc_cv;
	struct rc_entry *rc_buckets[RC_BUCKETS];
	struct rc_entry *rc_oldest, *rc_youngest;
	size_t rc_count, rc_capacity;
	size_t rc_bytes, rc_max_bytes; /* of finished entries, see rc_entry_bytes */
	int64_t rc_ttl_ms;
};

static size_t rc_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h % RC_BUCKETS);
}

struct reply_cache *reply_cache_new(size_t capacity, size_t max_bytes, int64_t ttl_ms)
{
	struct reply_cache *rc = xcalloc(1, sizeof(*rc));
	pthread_condattr_t attr;

	pthread_mutex_init(&rc->rc_mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rc->rc_cv, &attr);
	pthread_condattr_destroy(&attr);
	rc->rc_capacity = capacity;
	rc->rc_max_bytes = max_bytes;
	rc->rc_ttl_ms = ttl_ms;
	return rc;
}

void reply_cache_free(struct reply_cache *rc)
{
	struct rc_entry *e, *next;

	if (rc == NULL)
		return;
	for (e = rc->rc_oldest; e != NULL; e = next) {
		next = e->e_younger;
		free(e->e_id);
		free(e->e_reply);
		free(e);
	}
	pthread_mutex_destroy(&rc->rc_mu);
	pthread_cond_destroy(&rc->rc_cv);
	free(rc);
}

static struct rc_entry *rc_find(struct reply_cache *rc, const char *id)
{
	for (struct rc_entry *e = rc->rc_buckets[rc_hash(id)]; e != NULL; e = e->e_chain)
		if (strcmp(e->e_id, id) == 0)
			return e;
	return NULL;
}

/* What a finished entry costs: its reply, its key and the entry itself. */
static size_t rc_entry_bytes(const struct rc_entry *e)
{
	return e->e_len + strlen(e->e_id) + 1 + sizeof(*e);
}

/* Takes e, whose FIFO predecessor is *link (older: the entry before it, or
 * NULL), out of the table and the FIFO, and frees it. */
static void rc_remove(struct reply_cache *rc, struct rc_entry *e, struct rc_entry **link, struct rc_entry *older)
{
	struct rc_entry **pp;

	for (pp = &rc->rc_buckets[rc_hash(e->e_id)]; *pp != e; pp = &(*pp)->e_chain)
		;
	*pp = e->e_chain;
	*link = e->e_younger;
	if (rc->rc_youngest == e)
		rc->rc_youngest = older;
	rc->rc_count--;
	if (e->e_reply != NULL)
		rc->rc_bytes -= rc_entry_bytes(e);
	free(e->e_id);
	free(e->e_reply);
	free(e);
}

/* Drops finished entries, oldest first: those past their time, and more
 * while the entries plus `room_for` new ones exceed the capacity or the
 * replies exceed the byte budget. Never `keep`; in-flight entries are
 * stepped over. */
static void rc_evict(struct reply_cache *rc, int64_t now, size_t room_for, const struct rc_entry *keep)
{
	struct rc_entry **link = &rc->rc_oldest, *older = NULL;

	while (*link != NULL) {
		struct rc_entry *e = *link;
		int full = rc->rc_count + room_for > rc->rc_capacity || rc->rc_bytes > rc->rc_max_bytes;

		if (!full && now - e->e_born < rc->rc_ttl_ms)
			break; /* younger entries are younger still */
		if (e->e_reply == NULL || e == keep) {
			older = e;
			link = &e->e_younger;
			continue;
		}
		rc_remove(rc, e, link, older);
	}
}

enum reply_cache_result reply_cache_begin(struct reply_cache *rc, const char *id, int64_t wait_until, uint8_t **reply,
					  size_t *len)
{
	int64_t now = clock_mono_ms();
	struct rc_entry *e;

	pthread_mutex_lock(&rc->rc_mu);
	rc_evict(rc, now, 1, NULL);
	e = rc_find(rc, id);
	while (e != NULL && e->e_reply == NULL) {
		/* Another copy is running: wait for its reply (or its abandonment). */
		struct timespec ts = {.tv_sec = wait_until / 1000, .tv_nsec = (wait_until % 1000) * 1000000};
		if (pthread_cond_timedwait(&rc->rc_cv, &rc->rc_mu, &ts) == ETIMEDOUT) {
			e = rc_find(rc, id);
			if (e != NULL && e->e_reply == NULL) {
				pthread_mutex_unlock(&rc->rc_mu);
				return REPLY_CACHE_BUSY;
			}
			break;
		}
		e = rc_find(rc, id);
	}
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->e_id = xstrdup(id);
		e->e_born = now;
		size_t b = rc_hash(id);
		e->e_chain = rc->rc_buckets[b];
		rc->rc_buckets[b] = e;
		if (rc->rc_youngest != NULL)
			rc->rc_youngest->e_younger = e;
		else
			rc->rc_oldest = e;
		rc->rc_youngest = e;
		rc->rc_count++;
		pthread_mutex_unlock(&rc->rc_mu);
		return REPLY_CACHE_MISS;
	}
	/* e holds a reply; eviction needs the mutex we hold, so e is valid. */
	*reply = xmalloc(e->e_len);
	memcpy(*reply, e->e_reply, e->e_len);
	*len = e->e_len;
	pthread_mutex_unlock(&rc->rc_mu);
	return REPLY_CACHE_HIT;
}

void reply_cache_abandon(struct reply_cache *rc, const char *id)
{
	struct rc_entry *e, **link, *older = NULL;

	pthread_mutex_lock(&rc->rc_mu);
	e = rc_find(rc, id);
	if (e != NULL && e->e_reply == NULL) {
		/* Its place in the FIFO: it may be anywhere in it. */
		for (link = &rc->rc_oldest; *link != e; link = &(*link)->e_younger)
			older = *link;
		rc_remove(rc, e, link, older);
	}
	pthread_cond_broadcast(&rc->rc_cv);
	pthread_mutex_unlock(&rc->rc_mu);
}

void reply_cache_put(struct reply_cache *rc, const char *id, const uint8_t *reply, size_t len)
{
	struct rc_entry *e;
	uint8_t *copy = xmalloc(len > 0 ? len : 1);

	pthread_mutex_lock(&rc->rc_mu);
	e = rc_find(rc, id);
	if (e != NULL && e->e_reply == NULL) {
		memcpy(copy, reply, len);
		e->e_reply = copy;
		e->e_len = len;
		rc->rc_bytes += rc_entry_bytes(e);
		copy = NULL;
		rc_evict(rc, clock_mono_ms(), 0, e);
	}
	pthread_cond_broadcast(&rc->rc_cv);
	pthread_mutex_unlock(&rc->rc_mu);
	free(copy);
}

void reply_cache_usage(struct reply_cache *rc, size_t *entries, size_t *bytes)
{
	pthread_mutex_lock(&rc->rc_mu);
	*entries = rc->rc_count;
	*bytes = rc->rc_bytes;
	pthread_mutex_unlock(&rc->rc_mu);
}
