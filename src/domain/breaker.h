/*
 * Circuit breaker for one provider endpoint (SPEC section 6). Pure: time comes
 * in as now_ms (any monotonic milliseconds), nothing is read or written
 * outside the struct, and nothing is locked: the caller keeps one breaker per
 * endpoint (e.g. per base URL) and serializes access to it.
 *
 *   closed     every call is allowed. It opens after bc_consecutive (5)
 *              retryable failures in a row, or when at least bc_min_calls (10)
 *              calls ended within the last bc_window_ms (60 s) and at least
 *              bc_failure_pct (50) percent of them failed.
 *   open       nothing is allowed until the cool-down has passed (bc_cooldown_ms,
 *              30 s at first).
 *   half-open  the first breaker_allow after the cool-down is the probe (and
 *              the only call allowed). Its success closes the breaker and
 *              resets the cool-down; its failure re-opens it with the cool-down
 *              doubled, up to bc_cooldown_max_ms (5 min).
 *
 * What counts: the caller records BREAKER_FAILURE for attempts classified as
 * retryable (timeouts, connection failures, 429, 5xx/529, protocol errors) and
 * BREAKER_SUCCESS for everything else that got an answer (a 400 or 401 proves
 * the endpoint is up). A call that was abandoned (cancelled on pause, never
 * started) is recorded as BREAKER_ABANDONED: it only gives the probe slot back.
 * Each call is recorded with the admission breaker_allow gave it, so a late
 * answer of a call admitted before the breaker opened cannot pass for the
 * probe's answer: while open or half-open only the probe's result counts.
 *
 * breaker_record returns the transition, so the caller raises the
 * LLM_PROVIDER_UNAVAILABLE alert and incident on OPENED, may re-raise on
 * REOPENED (same dedup key), and resolves both on CLOSED, then releases the
 * held runs spread out with breaker_release_offsets.
 */
#ifndef BBB_BREAKER_H
#define BBB_BREAKER_H

#include <stddef.h>
#include <stdint.h>

/* Buckets of the rolling window; a bucket spans bc_window_ms / BREAKER_BUCKETS. */
#define BREAKER_BUCKETS 60

struct breaker_config {
	int bc_consecutive; /* retryable failures in a row that open it */
	int bc_min_calls; /* calls in the window before the rate counts */
	int bc_failure_pct; /* failure rate (percent, of those calls) that opens it */
	int64_t bc_window_ms;
	int64_t bc_cooldown_ms; /* first cool-down */
	int64_t bc_cooldown_max_ms; /* doubling stops here */
};

#define BREAKER_CONFIG_DEFAULT                                                                                         \
	{                                                                                                              \
		.bc_consecutive = 5, .bc_min_calls = 10, .bc_failure_pct = 50, .bc_window_ms = 60000,                  \
		.bc_cooldown_ms = 30000, .bc_cooldown_max_ms = 300000                                                  \
	}

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN, BREAKER_HALF_OPEN };

/* What breaker_allow answered; pass it back to breaker_record. */
enum breaker_admit {
	BREAKER_DENIED = 0, /* make no call; hold the run until breaker_retry_at_ms */
	BREAKER_ADMITTED, /* an ordinary call */
	BREAKER_PROBE, /* the one half-open probe */
};

enum breaker_result { BREAKER_SUCCESS = 0, BREAKER_FAILURE, BREAKER_ABANDONED };

enum breaker_transition {
	BREAKER_TR_NONE = 0,
	BREAKER_TR_OPENED, /* closed -> open: raise the alert */
	BREAKER_TR_REOPENED, /* failed probe -> open again, with a longer cool-down */
	BREAKER_TR_CLOSED, /* probe succeeded -> closed: resolve the alert, release held runs */
};

struct breaker_bucket {
	int64_t bb_epoch; /* now_ms / bucket width when last written; -1 unused */
	int bb_calls;
	int bb_failures;
};

struct breaker {
	struct breaker_config b_cfg;
	enum breaker_state b_state;
	int b_consecutive; /* failures in a row while closed */
	int b_probe_out; /* 1 while the probe is in flight */
	int64_t b_cooldown_ms; /* the current cool-down */
	int64_t b_open_until_ms; /* while open: when the probe may go */
	int b_opens; /* times opened or re-opened since created (for logs) */
	struct breaker_bucket b_buckets[BREAKER_BUCKETS];
};

/* Starts closed. cfg NULL: BREAKER_CONFIG_DEFAULT. Values <= 0 in cfg are
 * replaced by the defaults. */
void breaker_init(struct breaker *b, const struct breaker_config *cfg);

/* May a call go now? Moves open -> half-open once the cool-down has passed and
 * hands out the probe to the first caller; DENIED while open, and while the
 * probe is out. */
enum breaker_admit breaker_allow(struct breaker *b, int64_t now_ms);

/* Records how an admitted call ended; `how` is what breaker_allow returned for
 * it (DENIED calls never ran: nothing is recorded). */
enum breaker_transition breaker_record(struct breaker *b, int64_t now_ms, enum breaker_admit how,
				       enum breaker_result r);

/* The state at now_ms, without changing anything (open reads as half-open
 * once its cool-down has passed). */
enum breaker_state breaker_state_at(const struct breaker *b, int64_t now_ms);

/* When held runs should look again: now_ms while closed, the end of the
 * cool-down while open, now_ms + 1000 while the probe is out. */
int64_t breaker_retry_at_ms(const struct breaker *b, int64_t now_ms);

/* Start offsets for n runs released after the breaker closed, so they do not
 * all hit the provider at once: run i starts at out[i] ms from now. The spread
 * [0, spread_ms) is cut into n equal slots and each offset is drawn uniformly
 * within its own slot from the seed, so offsets are ascending, distinct when
 * spread_ms >= n, and cover the whole spread. n == 0 writes nothing; spread_ms * n
 * must fit in 63 bits (a spread of an hour for a million runs does). */
void breaker_release_offsets(size_t n, int64_t spread_ms, uint64_t seed, int64_t *out);

const char *breaker_state_name(enum breaker_state s);

#endif
