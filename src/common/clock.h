/* Time: wall clock for stored timestamps, monotonic clock for deadlines. */
#ifndef BBB_CLOCK_H
#define BBB_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds since the Unix epoch, UTC. */
int64_t clock_now_ms(void);
/* Milliseconds on CLOCK_MONOTONIC; only differences mean anything. */
int64_t clock_mono_ms(void);
/* Nanoseconds on CLOCK_MONOTONIC, for durations under a millisecond. */
int64_t clock_mono_ns(void);
/* Formats ms since the epoch as RFC 3339 UTC ("2026-11-28T04:05:06.789Z"). */
void clock_format_rfc3339(int64_t ms, char *buf, size_t n);
/* Parses RFC 3339 ("2026-11-28T04:05:06Z", fraction and offset allowed) or
 * a plain date ("2026-11-28", midnight UTC). Returns 0 or -1. */
int clock_parse_rfc3339(const char *s, int64_t *ms);

#endif
