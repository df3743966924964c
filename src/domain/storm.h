/*
 * The retry-storm window (docs/runtime.md): LLM_RETRY_STORM is raised when
 * more than `threshold` runs entered retry_scheduled within the window (60 s
 * by default), and resolved once a whole window passed without one. Pure:
 * time comes in as now_ms (any monotonic milliseconds), nothing is read or
 * written outside the struct, nothing is locked (the dispatcher owns it).
 *
 * Entries are counted in STORM_BUCKETS time buckets of window / STORM_BUCKETS
 * each (1 s by default), in a ring, as the breaker counts its calls: the
 * memory is fixed whatever the threshold or the rate, and any threshold
 * works (the 64-entry ring this replaces could never count past 64, so a
 * threshold of 64 or more silently never fired). "Within the window" is
 * therefore exact to one bucket: an entry counts while its bucket is one of
 * the last STORM_BUCKETS, i.e. for between window - bucket and window ms.
 *
 *     struct storm s;
 *     storm_init(&s, 20, 60000);
 *     if (storm_note(&s, now) == STORM_STARTED)   raise the alert
 *     if (storm_check(&s, now) == STORM_ENDED)    resolve it (detector tick)
 */
#ifndef BBB_STORM_H
#define BBB_STORM_H

#include <stdint.h>

#define STORM_BUCKETS 60
#define STORM_DEFAULT_THRESHOLD 20
#define STORM_DEFAULT_WINDOW_MS 60000

struct storm_bucket {
	int64_t sb_epoch; /* now_ms / bucket width when last written; -1 unused */
	int64_t sb_count;
};

struct storm {
	int64_t s_threshold; /* more than this many entries in the window is a storm */
	int64_t s_window_ms;
	int s_raised; /* a storm was reported (STORM_STARTED) and has not ended yet */
	struct storm_bucket s_buckets[STORM_BUCKETS];
};

enum storm_change {
	STORM_NONE = 0,
	STORM_STARTED, /* the count passed the threshold: raise LLM_RETRY_STORM */
	STORM_ENDED, /* a whole window without an entry after a storm: resolve it */
};

/* Empty and calm. threshold <= 0: STORM_DEFAULT_THRESHOLD; window_ms <= 0:
 * STORM_DEFAULT_WINDOW_MS. */
void storm_init(struct storm *s, int64_t threshold, int64_t window_ms);

/* One run entered retry_scheduled at now_ms. STORM_STARTED once when the
 * window then holds more than the threshold and no storm is raised; else
 * STORM_NONE (a storm in progress is reported only once). */
enum storm_change storm_note(struct storm *s, int64_t now_ms);

/* Entries within the window ending at now_ms. */
int64_t storm_count(const struct storm *s, int64_t now_ms);

/* STORM_ENDED once when a storm is raised and the window ending at now_ms
 * holds no entry; else STORM_NONE. */
enum storm_change storm_check(struct storm *s, int64_t now_ms);

#endif
