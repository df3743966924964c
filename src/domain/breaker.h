/*
 * Circuit breaker for one provider endpoint (docs/runtime.md). Pure: time comes
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
 * REOPENED (same dedup key), and resolves both on CLOSED, then starts the
 * gradual release of the work the breaker held (breaker_release_begin).
 *
 * Held work and the release. Two kinds of caller ask for admission:
 *   - work that was held while the breaker was not closed (due runs that had
 *     to wait, next turns of conversations that were parked) asks with
 *     breaker_allow_held;
 *   - everything else (the next turn of a conversation that was never held)
 *     asks with breaker_allow.
 * After the probe closed the breaker, the caller counts the held work and
 * calls breaker_release_begin: the release window is cut into that many
 * slots (breaker_release_offset) and breaker_allow_held admits one held call
 * per slot whose time has come, so the held runs do not all hit a provider
 * that has just come back. Once every slot was handed out, held work is
 * admitted freely again. Work that was never held is not slowed down.
 * If the breaker opens again during the release (its calls failed again),
 * the release is abandoned: what is still held waits for the next probe, a
 * failed probe re-opens it with a longer cool-down as usual and releases
 * nothing, and only the probe that closes it again starts a new release,
 * counted afresh.
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
	/* The release after closing: slot i of rl_n starts at rl_start_ms +
	 * breaker_release_offset(i, ...); rl_next slots were handed out. */
	int64_t b_rl_start_ms;
	int64_t b_rl_spread_ms;
	uint64_t b_rl_seed;
	size_t b_rl_n, b_rl_next;
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
/* out[i] of breaker_release_offsets, alone (i < n). */
int64_t breaker_release_offset(size_t i, size_t n, int64_t spread_ms, uint64_t seed);

/* The breaker just closed (BREAKER_TR_CLOSED) with n pieces of work held:
 * breaker_allow_held admits them one per slot over [now_ms, now_ms +
 * spread_ms). n == 0 or spread_ms <= 0: no release, held work goes at once.
 * Does nothing unless the breaker is closed. */
void breaker_release_begin(struct breaker *b, size_t n, int64_t spread_ms, uint64_t seed, int64_t now_ms);

/* breaker_allow for work that was held: while a release is in progress,
 * BREAKER_ADMITTED only when the next slot's time has come (the slot is taken),
 * else BREAKER_DENIED; otherwise what breaker_allow answers (the probe while
 * half-open). */
enum breaker_admit breaker_allow_held(struct breaker *b, int64_t now_ms);

/* How many calls breaker_allow would admit at now_ms, without changing
 * anything: SIZE_MAX while closed, 1 while half-open (or open past its
 * cool-down) with the probe free, else 0. */
size_t breaker_capacity(const struct breaker *b, int64_t now_ms);

/* How many held calls breaker_allow_held would admit at now_ms, without
 * changing anything: SIZE_MAX while closed without a release, the slots due
 * and not yet taken during a release, 1 while half-open with the probe free,
 * else 0. */
size_t breaker_held_capacity(const struct breaker *b, int64_t now_ms);

/* An operator's reset (RuntimeService/ResetBreaker): the breaker closes as
 * after a successful probe (cool-down back to its first value, the window and
 * the failures in a row cleared, a probe in flight forgotten: its late answer
 * counts for nothing). BREAKER_TR_CLOSED when it was open or half-open (the
 * caller resolves the alert and begins the release, as for a probe),
 * BREAKER_TR_NONE when it was closed already (a release in progress goes on). */
enum breaker_transition breaker_reset(struct breaker *b, int64_t now_ms);

/* Another server opened this endpoint's breaker (the shared state on
 * PostgreSQL, docs/runtime.md): it stays open here until until_ms (on this
 * breaker's clock), then reads as half-open, and cooldown_ms (> 0; 0 keeps
 * the current one) becomes its current cool-down, so a probe that fails here
 * doubles the deployment's cool-down, not this server's. A closed breaker
 * opens (its window and a release in progress dropped): BREAKER_TR_OPENED,
 * for which the caller raises nothing, the server that opened it did. An open
 * or half-open one takes the new time: BREAKER_TR_NONE. While this server's
 * own probe is out nothing changes (its answer decides): BREAKER_TR_NONE.
 * Also how a server that lost the race for the probe waits for the winner's
 * answer (until_ms: when the winner's probe lease ends). */
enum breaker_transition breaker_open_elsewhere(struct breaker *b, int64_t now_ms, int64_t until_ms,
					       int64_t cooldown_ms);

/* 1 while a release is in progress (slots left to hand out). */
int breaker_releasing(const struct breaker *b);

const char *breaker_state_name(enum breaker_state s);

#endif
