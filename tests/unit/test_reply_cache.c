/* reply_cache: bounded by entries, by bytes and by age; in-flight entries never block eviction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/clock.h"
#include "rpc/reply_cache.h"

#define LONG_TTL_MS (60 * 60 * 1000)

/* Begins `id` (it must be new) and stores a reply of `len` bytes of `fill`. */
static void put(struct reply_cache *rc, const char *id, size_t len, int fill)
{
	uint8_t *reply = malloc(len), *got = NULL;
	size_t got_len = 0;

	memset(reply, fill, len);
	assert_int_equal(reply_cache_begin(rc, id, clock_mono_ms() + 1000, &got, &got_len), REPLY_CACHE_MISS);
	reply_cache_put(rc, id, reply, len);
	free(reply);
}

/* 1 when `id` is answered from the cache; a miss is abandoned again. */
static int cached(struct reply_cache *rc, const char *id)
{
	uint8_t *got = NULL;
	size_t len = 0;

	switch (reply_cache_begin(rc, id, clock_mono_ms() + 1000, &got, &len)) {
	case REPLY_CACHE_HIT:
		free(got);
		return 1;
	case REPLY_CACHE_MISS:
		reply_cache_abandon(rc, id);
		return 0;
	default:
		fail_msg("%s is busy", id);
		return 0;
	}
}

static void a_repeated_id_gets_the_first_reply(void **state)
{
	struct reply_cache *rc = reply_cache_new(16, 1 << 20, LONG_TTL_MS);
	uint8_t *got = NULL;
	size_t len = 0;

	(void)state;
	put(rc, "m|1", 10, 'x');
	assert_int_equal(reply_cache_begin(rc, "m|1", clock_mono_ms() + 1000, &got, &len), REPLY_CACHE_HIT);
	assert_int_equal(len, 10);
	assert_memory_equal(got, "xxxxxxxxxx", 10);
	free(got);
	reply_cache_free(rc);
}

static void replies_past_the_byte_budget_evict_the_oldest(void **state)
{
	struct reply_cache *rc = reply_cache_new(8192, 64 * 1024, LONG_TTL_MS);
	size_t entries, bytes;
	char id[32];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "m|%d", i);
		put(rc, id, 10 * 1024, 'a' + i % 26);
	}
	reply_cache_usage(rc, &entries, &bytes);
	assert_true(bytes <= 64 * 1024);
	assert_true(entries >= 5 && entries <= 6);
	assert_false(cached(rc, "m|0"));
	assert_false(cached(rc, "m|90"));
	assert_true(cached(rc, "m|99"));
	assert_true(cached(rc, "m|95"));
	reply_cache_free(rc);
}

static void a_reply_larger_than_the_budget_is_the_only_excess(void **state)
{
	struct reply_cache *rc = reply_cache_new(8192, 4 * 1024, LONG_TTL_MS);
	size_t entries, bytes;

	(void)state;
	put(rc, "m|small", 100, 's');
	/* Storing a reply never drops it at once (copies may be waiting for
	 * it), so the cache is over its budget by this one reply ... */
	put(rc, "m|huge", 64 * 1024, 'h');
	reply_cache_usage(rc, &entries, &bytes);
	assert_int_equal(entries, 1);
	assert_true(bytes > 64 * 1024 && bytes < 64 * 1024 + 4 * 1024);
	/* ... until the next call comes. */
	put(rc, "m|next", 100, 'n');
	reply_cache_usage(rc, &entries, &bytes);
	assert_true(bytes <= 4 * 1024);
	assert_true(cached(rc, "m|next"));
	assert_false(cached(rc, "m|huge"));
	assert_false(cached(rc, "m|small"));
	reply_cache_free(rc);
}

static void an_entry_in_flight_does_not_stop_eviction_behind_it(void **state)
{
	struct reply_cache *rc = reply_cache_new(4, 1 << 20, LONG_TTL_MS);
	uint8_t *got = NULL;
	size_t len = 0, entries, bytes;
	char id[32];

	(void)state;
	/* A call that stays in flight (a RunTask waiting for its run) is the
	 * oldest entry; later calls must still be evicted by count. */
	assert_int_equal(reply_cache_begin(rc, "m|waiting", clock_mono_ms() + 1000, &got, &len), REPLY_CACHE_MISS);
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "m|%d", i);
		put(rc, id, 100, 'x');
	}
	reply_cache_usage(rc, &entries, &bytes);
	assert_true(entries <= 4);
	assert_false(cached(rc, "m|0"));
	assert_true(cached(rc, "m|999"));
	/* The waiting call finishes and is answered from the cache after all. */
	reply_cache_put(rc, "m|waiting", (const uint8_t *)"done", 4);
	assert_true(cached(rc, "m|waiting"));
	reply_cache_free(rc);
}

static void finished_entries_expire(void **state)
{
	struct reply_cache *rc = reply_cache_new(16, 1 << 20, 1);
	struct timespec ts = {0, 5 * 1000 * 1000};

	(void)state;
	put(rc, "m|old", 10, 'o');
	nanosleep(&ts, NULL);
	assert_false(cached(rc, "m|old"));
	reply_cache_free(rc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_repeated_id_gets_the_first_reply),
		cmocka_unit_test(replies_past_the_byte_budget_evict_the_oldest),
		cmocka_unit_test(a_reply_larger_than_the_budget_is_the_only_excess),
		cmocka_unit_test(an_entry_in_flight_does_not_stop_eviction_behind_it),
		cmocka_unit_test(finished_entries_expire),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
