/*
 * The retry-storm window (contract in storm.h): a ring of time buckets, like
 * the breaker's rolling window, so counting costs STORM_BUCKETS slots.
 */
#include "domain/storm.h"

#include <string.h>

static int64_t storm_width(const struct storm *s)
{
	int64_t w = s->s_window_ms / STORM_BUCKETS;

	return w > 0 ? w : 1;
}

void storm_init(struct storm *s, int64_t threshold, int64_t window_ms)
{
	memset(s, 0, sizeof(*s));
	s->s_threshold = threshold > 0 ? threshold : STORM_DEFAULT_THRESHOLD;
	s->s_window_ms = window_ms > 0 ? window_ms : STORM_DEFAULT_WINDOW_MS;
	for (int i = 0; i < STORM_BUCKETS; i++)
		s->s_buckets[i].sb_epoch = -1;
}

int64_t storm_count(const struct storm *s, int64_t now_ms)
{
	int64_t epoch = now_ms / storm_width(s), n = 0;

	for (int i = 0; i < STORM_BUCKETS; i++) {
		const struct storm_bucket *b = &s->s_buckets[i];

		if (b->sb_epoch >= 0 && b->sb_epoch > epoch - STORM_BUCKETS && b->sb_epoch <= epoch)
			n += b->sb_count;
	}
	return n;
}

enum storm_change storm_note(struct storm *s, int64_t now_ms)
{
	int64_t epoch = now_ms / storm_width(s);
	struct storm_bucket *b = &s->s_buckets[(uint64_t)epoch % STORM_BUCKETS];

	if (b->sb_epoch != epoch) {
		b->sb_epoch = epoch;
		b->sb_count = 0;
	}
	b->sb_count++;
	if (s->s_raised || storm_count(s, now_ms) <= s->s_threshold)
		return STORM_NONE;
	s->s_raised = 1;
	return STORM_STARTED;
}

enum storm_change storm_check(struct storm *s, int64_t now_ms)
{
	if (!s->s_raised || storm_count(s, now_ms) > 0)
		return STORM_NONE;
	s->s_raised = 0;
	return STORM_ENDED;
}
