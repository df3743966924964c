/*
 * Per-endpoint circuit breaker (contract in breaker.h).
 *
 * The rolling window is BREAKER_BUCKETS time buckets in a ring: a bucket is
 * reused when its epoch (now / width) is older than the window, so counting
 * costs a fixed 60 slots whatever the call rate, and old calls fall out of the
 * window without any timer.
 */
#include "domain/breaker.h"

#include <string.h>

#include "domain/retry_policy.h"

static int64_t breaker_bucket_width(const struct breaker *b)
{
	int64_t w = b->b_cfg.bc_window_ms / BREAKER_BUCKETS;

	return w > 0 ? w : 1;
}

static void breaker_clear_window(struct breaker *b)
{
	for (int i = 0; i < BREAKER_BUCKETS; i++) {
		b->b_buckets[i].bb_epoch = -1;
		b->b_buckets[i].bb_calls = 0;
		b->b_buckets[i].bb_failures = 0;
	}
	b->b_consecutive = 0;
}

void breaker_init(struct breaker *b, const struct breaker_config *cfg)
{
	const struct breaker_config dflt = BREAKER_CONFIG_DEFAULT;
	struct breaker_config c = cfg != NULL ? *cfg : dflt;

	if (c.bc_consecutive <= 0)
		c.bc_consecutive = dflt.bc_consecutive;
	if (c.bc_min_calls <= 0)
		c.bc_min_calls = dflt.bc_min_calls;
	if (c.bc_failure_pct <= 0)
		c.bc_failure_pct = dflt.bc_failure_pct;
	if (c.bc_window_ms <= 0)
		c.bc_window_ms = dflt.bc_window_ms;
	if (c.bc_cooldown_ms <= 0)
		c.bc_cooldown_ms = dflt.bc_cooldown_ms;
	if (c.bc_cooldown_max_ms < c.bc_cooldown_ms)
		c.bc_cooldown_max_ms =
			c.bc_cooldown_ms > dflt.bc_cooldown_max_ms ? c.bc_cooldown_ms : dflt.bc_cooldown_max_ms;
	memset(b, 0, sizeof(*b));
	b->b_cfg = c;
	b->b_state = BREAKER_CLOSED;
	b->b_cooldown_ms = c.bc_cooldown_ms;
	breaker_clear_window(b);
}

/* Adds one call to the bucket of now_ms and returns the window's totals. */
static void breaker_count(struct breaker *b, int64_t now_ms, int failed, int *calls, int *failures)
{
	int64_t epoch = now_ms / breaker_bucket_width(b);
	struct breaker_bucket *bk = &b->b_buckets[(uint64_t)epoch % BREAKER_BUCKETS];

	if (bk->bb_epoch != epoch) {
		bk->bb_epoch = epoch;
		bk->bb_calls = 0;
		bk->bb_failures = 0;
	}
	bk->bb_calls++;
	bk->bb_failures += failed;
	*calls = 0;
	*failures = 0;
	for (int i = 0; i < BREAKER_BUCKETS; i++) {
		const struct breaker_bucket *x = &b->b_buckets[i];

		if (x->bb_epoch >= 0 && x->bb_epoch > epoch - BREAKER_BUCKETS && x->bb_epoch <= epoch) {
			*calls += x->bb_calls;
			*failures += x->bb_failures;
		}
	}
}

static void breaker_release_clear(struct breaker *b)
{
	b->b_rl_n = 0;
	b->b_rl_next = 0;
}

static void breaker_open(struct breaker *b, int64_t now_ms)
{
	/* What a release had not handed out yet is held again, until a probe
	 * closes the breaker and a new release is counted. */
	breaker_release_clear(b);
	b->b_state = BREAKER_OPEN;
	b->b_probe_out = 0;
	b->b_open_until_ms = now_ms + b->b_cooldown_ms;
	b->b_opens++;
	breaker_clear_window(b);
}

static enum breaker_transition breaker_record_closed(struct breaker *b, int64_t now_ms, enum breaker_result r)
{
	int calls, failures;

	if (r == BREAKER_ABANDONED)
		return BREAKER_TR_NONE;
	breaker_count(b, now_ms, r == BREAKER_FAILURE, &calls, &failures);
	if (r == BREAKER_SUCCESS) {
		b->b_consecutive = 0;
		return BREAKER_TR_NONE;
	}
	b->b_consecutive++;
	if (b->b_consecutive >= b->b_cfg.bc_consecutive ||
	    (calls >= b->b_cfg.bc_min_calls && (int64_t)failures * 100 >= (int64_t)b->b_cfg.bc_failure_pct * calls)) {
		breaker_open(b, now_ms);
		return BREAKER_TR_OPENED;
	}
	return BREAKER_TR_NONE;
}

static enum breaker_transition breaker_record_probe(struct breaker *b, int64_t now_ms, enum breaker_result r)
{
	b->b_probe_out = 0;
	switch (r) {
	case BREAKER_ABANDONED:
		return BREAKER_TR_NONE;
	case BREAKER_SUCCESS:
		b->b_state = BREAKER_CLOSED;
		b->b_cooldown_ms = b->b_cfg.bc_cooldown_ms;
		breaker_clear_window(b);
		return BREAKER_TR_CLOSED;
	case BREAKER_FAILURE:
		break;
	}
	b->b_cooldown_ms *= 2;
	if (b->b_cooldown_ms > b->b_cfg.bc_cooldown_max_ms)
		b->b_cooldown_ms = b->b_cfg.bc_cooldown_max_ms;
	breaker_open(b, now_ms);
	return BREAKER_TR_REOPENED;
}

enum breaker_admit breaker_allow(struct breaker *b, int64_t now_ms)
{
	switch (b->b_state) {
	case BREAKER_CLOSED:
		return BREAKER_ADMITTED;
	case BREAKER_OPEN:
		if (now_ms < b->b_open_until_ms)
			return BREAKER_DENIED;
		b->b_state = BREAKER_HALF_OPEN;
		break;
	case BREAKER_HALF_OPEN:
		break;
	}
	if (b->b_probe_out)
		return BREAKER_DENIED;
	b->b_probe_out = 1;
	return BREAKER_PROBE;
}

enum breaker_transition breaker_record(struct breaker *b, int64_t now_ms, enum breaker_admit how, enum breaker_result r)
{
	if (how == BREAKER_PROBE && b->b_state == BREAKER_HALF_OPEN && b->b_probe_out)
		return breaker_record_probe(b, now_ms, r);
	if (how == BREAKER_ADMITTED && b->b_state == BREAKER_CLOSED)
		return breaker_record_closed(b, now_ms, r);
	/* A stale answer: admitted before the breaker opened. */
	return BREAKER_TR_NONE;
}

enum breaker_state breaker_state_at(const struct breaker *b, int64_t now_ms)
{
	if (b->b_state == BREAKER_OPEN && now_ms >= b->b_open_until_ms)
		return BREAKER_HALF_OPEN;
	return b->b_state;
}

int64_t breaker_retry_at_ms(const struct breaker *b, int64_t now_ms)
{
	switch (breaker_state_at(b, now_ms)) {
	case BREAKER_CLOSED:
		return now_ms;
	case BREAKER_OPEN:
		return b->b_open_until_ms;
	case BREAKER_HALF_OPEN:
		break;
	}
	return b->b_probe_out ? now_ms + 1000 : now_ms;
}

int64_t breaker_release_offset(size_t i, size_t n, int64_t spread_ms, uint64_t seed)
{
	/* The (i + 1)-th word of the splitmix64 stream of seed, drawn directly. */
	uint64_t rng = seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL;

	if (spread_ms < 0)
		spread_ms = 0;
	/* Slot i is [i * spread / n, (i + 1) * spread / n). */
	int64_t lo = spread_ms * (int64_t)i / (int64_t)n;
	int64_t hi = spread_ms * (int64_t)(i + 1) / (int64_t)n;
	int64_t width = hi - lo;

	return lo + (width > 0 ? (int64_t)(retry_splitmix64(&rng) % (uint64_t)width) : 0);
}

void breaker_release_offsets(size_t n, int64_t spread_ms, uint64_t seed, int64_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = breaker_release_offset(i, n, spread_ms, seed);
}

void breaker_release_begin(struct breaker *b, size_t n, int64_t spread_ms, uint64_t seed, int64_t now_ms)
{
	breaker_release_clear(b);
	if (b->b_state != BREAKER_CLOSED || n == 0 || spread_ms <= 0)
		return;
	b->b_rl_start_ms = now_ms;
	b->b_rl_spread_ms = spread_ms;
	b->b_rl_seed = seed;
	b->b_rl_n = n;
}

enum breaker_transition breaker_reset(struct breaker *b, int64_t now_ms)
{
	(void)now_ms;
	if (b->b_state == BREAKER_CLOSED)
		return BREAKER_TR_NONE;
	b->b_state = BREAKER_CLOSED;
	b->b_probe_out = 0;
	b->b_open_until_ms = 0;
	b->b_cooldown_ms = b->b_cfg.bc_cooldown_ms;
	breaker_release_clear(b);
	breaker_clear_window(b);
	return BREAKER_TR_CLOSED;
}

enum breaker_transition breaker_open_elsewhere(struct breaker *b, int64_t now_ms, int64_t until_ms, int64_t cooldown_ms)
{
	enum breaker_transition tr = BREAKER_TR_NONE;

	(void)now_ms;
	if (b->b_state == BREAKER_HALF_OPEN && b->b_probe_out)
		return BREAKER_TR_NONE;
	if (cooldown_ms > 0) {
		if (cooldown_ms < b->b_cfg.bc_cooldown_ms)
			cooldown_ms = b->b_cfg.bc_cooldown_ms;
		b->b_cooldown_ms =
			cooldown_ms < b->b_cfg.bc_cooldown_max_ms ? cooldown_ms : b->b_cfg.bc_cooldown_max_ms;
	}
	if (b->b_state == BREAKER_CLOSED) {
		breaker_release_clear(b);
		breaker_clear_window(b);
		b->b_opens++;
		tr = BREAKER_TR_OPENED;
	}
	b->b_state = BREAKER_OPEN;
	b->b_probe_out = 0;
	b->b_open_until_ms = until_ms;
	return tr;
}

int breaker_releasing(const struct breaker *b)
{
	return b->b_state == BREAKER_CLOSED && b->b_rl_next < b->b_rl_n;
}

/* When slot i of the release starts. */
static int64_t breaker_slot_at(const struct breaker *b, size_t i)
{
	return b->b_rl_start_ms + breaker_release_offset(i, b->b_rl_n, b->b_rl_spread_ms, b->b_rl_seed);
}

enum breaker_admit breaker_allow_held(struct breaker *b, int64_t now_ms)
{
	if (!breaker_releasing(b))
		return breaker_allow(b, now_ms);
	if (now_ms < breaker_slot_at(b, b->b_rl_next))
		return BREAKER_DENIED;
	b->b_rl_next++;
	return BREAKER_ADMITTED;
}

size_t breaker_capacity(const struct breaker *b, int64_t now_ms)
{
	switch (breaker_state_at(b, now_ms)) {
	case BREAKER_CLOSED:
		return SIZE_MAX;
	case BREAKER_OPEN:
		return 0;
	case BREAKER_HALF_OPEN:
		break;
	}
	return b->b_probe_out ? 0 : 1;
}

size_t breaker_held_capacity(const struct breaker *b, int64_t now_ms)
{
	size_t due = b->b_rl_next;

	if (!breaker_releasing(b))
		return breaker_capacity(b, now_ms);
	while (due < b->b_rl_n && breaker_slot_at(b, due) <= now_ms)
		due++;
	return due - b->b_rl_next;
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half_open";
	}
	return "unknown";
}
