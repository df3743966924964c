/*
 * Recent replies of mutating calls, by request_id, so that a request that
 * arrives twice (a client retry, nng's req resend) runs once. While the first
 * copy is still running, a second one waits for its reply.
 *
 * Bounded: each finished entry is kept for `ttl_ms`, and the oldest finished
 * entries go first while there are more than `capacity` entries or their
 * replies (with keys and bookkeeping) take more than `max_bytes`. Entries in
 * flight hold no reply and are never evicted: there are at most as many as
 * calls running or deferred. Storing a reply never evicts that reply itself,
 * so the cache holds at most max_bytes plus one reply. Thread-safe.
 */
#ifndef BBB_REPLY_CACHE_H
#define BBB_REPLY_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct reply_cache;

struct reply_cache *reply_cache_new(size_t capacity, size_t max_bytes, int64_t ttl_ms);
void reply_cache_free(struct reply_cache *rc);

enum reply_cache_result {
	REPLY_CACHE_MISS, /* caller owns the id now: run, then reply_cache_put */
	REPLY_CACHE_HIT, /* reply and len hold a malloc'd copy */
	REPLY_CACHE_BUSY, /* another copy is still running past wait_until */
};

/* Looks up `id`. On MISS an in-flight entry is made and the caller must
 * reply_cache_put it. On HIT the caller frees *reply. A copy still in flight
 * is waited for until `wait_until` (CLOCK_MONOTONIC ms), then BUSY. */
enum reply_cache_result reply_cache_begin(struct reply_cache *rc, const char *id, int64_t wait_until, uint8_t **reply,
					  size_t *len);
/* Stores the reply of an id begun with MISS and wakes its waiters. */
void reply_cache_put(struct reply_cache *rc, const char *id, const uint8_t *reply, size_t len);
/* Forgets an id begun with MISS whose call did not run (deadline passed,
 * database locked, shutting down): a copy waiting for it, or a later retry,
 * runs the call itself. */
void reply_cache_abandon(struct reply_cache *rc, const char *id);

/* What the cache holds now: entries (in flight included) and bytes. */
void reply_cache_usage(struct reply_cache *rc, size_t *entries, size_t *bytes);

#endif
