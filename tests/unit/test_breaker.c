/* domain/breaker: open on consecutive failures or a failure rate, half-open probe, cool-down doubling, the gradual
 * release of held work (also when the breaker re-opens during it and a probe fails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/breaker.h"

/* One admitted call at t that ends with r; returns the transition. */
static enum breaker_transition call(struct breaker *b, int64_t t, enum breaker_result r)
{
	enum breaker_admit a = breaker_allow(b, t);

	assert_int_not_equal(a, BREAKER_DENIED);
	return breaker_record(b, t, a, r);
}

static void five_consecutive_failures_open_it(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(call(&b, 1000 + i, BREAKER_FAILURE), BREAKER_TR_NONE);
	assert_int_equal(breaker_state_at(&b, 1004), BREAKER_CLOSED);
	assert_int_equal(call(&b, 1004, BREAKER_FAILURE), BREAKER_TR_OPENED);
	assert_int_equal(breaker_state_at(&b, 1005), BREAKER_OPEN);
	assert_int_equal(breaker_allow(&b, 1005), BREAKER_DENIED);
}

static void a_success_resets_the_consecutive_count(void **state)
{
	struct breaker b;
	int64_t t = 0;

	(void)state;
	breaker_init(&b, NULL);
	/* 4 failures and a success, five times: never 5 failures in a row, and the
	 * rounds are 61 s apart, so the window never holds the 10 calls the rate needs. */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 4; i++)
			assert_int_equal(call(&b, t++, BREAKER_FAILURE), BREAKER_TR_NONE);
		assert_int_equal(call(&b, t++, BREAKER_SUCCESS), BREAKER_TR_NONE);
		t += 61000;
	}
	assert_int_equal(breaker_state_at(&b, t), BREAKER_CLOSED);
}

static void half_of_ten_calls_in_a_minute_open_it(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	/* Alternating: never two failures in a row, 50% of 10 calls in 9 s. */
	for (int i = 0; i < 9; i++)
		assert_int_equal(call(&b, i * 1000, i % 2 == 0 ? BREAKER_SUCCESS : BREAKER_FAILURE), BREAKER_TR_NONE);
	assert_int_equal(call(&b, 9000, BREAKER_FAILURE), BREAKER_TR_OPENED);
}

static void failure_rate_needs_ten_calls(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	/* 9 calls, 5 failures (56%), never 5 in a row: below the minimum volume. */
	for (int i = 0; i < 9; i++)
		assert_int_equal(call(&b, i * 10, i % 2 == 0 ? BREAKER_FAILURE : BREAKER_SUCCESS), BREAKER_TR_NONE);
	assert_int_equal(breaker_state_at(&b, 100), BREAKER_CLOSED);
}

static void calls_older_than_the_window_do_not_count(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	/* 4 failures long ago, then successes keep the run short; then 5 calls with
	 * 3 failures a minute later: 7/10 would open, 3/5 within the window does not. */
	for (int i = 0; i < 4; i++)
		call(&b, i, BREAKER_FAILURE);
	call(&b, 10, BREAKER_SUCCESS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(call(&b, 70000 + i, i < 3 ? BREAKER_FAILURE : BREAKER_SUCCESS), BREAKER_TR_NONE);
	assert_int_equal(breaker_state_at(&b, 70010), BREAKER_CLOSED);
}

static void rolling_window_counts_recent_calls_across_buckets(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	/* 10 calls spread over 50 s (different buckets), 5 failures not in a row. */
	for (int i = 0; i < 9; i++)
		assert_int_equal(call(&b, i * 5000, i % 2 ? BREAKER_FAILURE : BREAKER_SUCCESS), BREAKER_TR_NONE);
	assert_int_equal(call(&b, 45000 + 4999, BREAKER_FAILURE), BREAKER_TR_OPENED);
}

static void open_breaker_allows_one_probe_after_the_cool_down(void **state)
{
	struct breaker b;
	int64_t t = 0;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, t, BREAKER_FAILURE);
	assert_int_equal(breaker_retry_at_ms(&b, t), 30000);
	assert_int_equal(breaker_allow(&b, 29999), BREAKER_DENIED);
	assert_int_equal(breaker_state_at(&b, 30000), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_allow(&b, 30000), BREAKER_PROBE);
	/* Exactly one: everyone else waits for the probe's answer. */
	assert_int_equal(breaker_allow(&b, 30001), BREAKER_DENIED);
	assert_int_equal(breaker_allow(&b, 40000), BREAKER_DENIED);
}

static void probe_success_closes_it(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(breaker_allow(&b, 30000), BREAKER_PROBE);
	assert_int_equal(breaker_record(&b, 30500, BREAKER_PROBE, BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	assert_int_equal(breaker_state_at(&b, 30500), BREAKER_CLOSED);
	assert_int_equal(breaker_allow(&b, 30501), BREAKER_ADMITTED);
	/* A fresh start: the window was cleared, 4 failures do not re-open it. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(call(&b, 30600, BREAKER_FAILURE), BREAKER_TR_NONE);
}

static void failed_probes_double_the_cool_down_up_to_five_minutes(void **state)
{
	static const int64_t cooldowns[] = {30000, 60000, 120000, 240000, 300000, 300000};
	struct breaker b;
	int64_t t = 0;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, t, BREAKER_FAILURE);
	for (size_t k = 0; k < sizeof(cooldowns) / sizeof(cooldowns[0]); k++) {
		assert_int_equal(breaker_allow(&b, t + cooldowns[k] - 1), BREAKER_DENIED);
		t += cooldowns[k];
		assert_int_equal(breaker_allow(&b, t), BREAKER_PROBE);
		assert_int_equal(breaker_record(&b, t, BREAKER_PROBE, BREAKER_FAILURE), BREAKER_TR_REOPENED);
	}
	/* A success resets the cool-down to 30 s for the next opening. */
	t += 300000;
	assert_int_equal(breaker_allow(&b, t), BREAKER_PROBE);
	assert_int_equal(breaker_record(&b, t, BREAKER_PROBE, BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	for (int i = 0; i < 5; i++)
		call(&b, t, BREAKER_FAILURE);
	assert_int_equal(breaker_retry_at_ms(&b, t), t + 30000);
}

static void abandoned_probe_frees_the_slot(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(breaker_allow(&b, 30000), BREAKER_PROBE);
	assert_int_equal(breaker_record(&b, 30001, BREAKER_PROBE, BREAKER_ABANDONED), BREAKER_TR_NONE);
	assert_int_equal(breaker_state_at(&b, 30001), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_allow(&b, 30002), BREAKER_PROBE);
}

static void late_answers_of_calls_admitted_before_opening_are_ignored(void **state)
{
	struct breaker b;
	enum breaker_admit old;

	(void)state;
	breaker_init(&b, NULL);
	old = breaker_allow(&b, 0); /* in flight while the breaker opens */
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(breaker_allow(&b, 30000), BREAKER_PROBE);
	/* The old call's success must not pass for the probe's. */
	assert_int_equal(breaker_record(&b, 30001, old, BREAKER_SUCCESS), BREAKER_TR_NONE);
	assert_int_equal(breaker_state_at(&b, 30001), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_allow(&b, 30002), BREAKER_DENIED);
	assert_int_equal(breaker_record(&b, 30003, BREAKER_PROBE, BREAKER_FAILURE), BREAKER_TR_REOPENED);
	/* And while open, a late failure does not count either. */
	assert_int_equal(breaker_record(&b, 30004, old, BREAKER_FAILURE), BREAKER_TR_NONE);
	assert_int_equal(breaker_retry_at_ms(&b, 30004), 30003 + 60000);
}

static void thresholds_are_configurable(void **state)
{
	const struct breaker_config cfg = {
		.bc_consecutive = 2,
		.bc_min_calls = 4,
		.bc_failure_pct = 75,
		.bc_window_ms = 6000,
		.bc_cooldown_ms = 1000,
		.bc_cooldown_max_ms = 3000,
	};
	struct breaker b;

	(void)state;
	breaker_init(&b, &cfg);
	call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(call(&b, 0, BREAKER_FAILURE), BREAKER_TR_OPENED);
	assert_int_equal(breaker_allow(&b, 999), BREAKER_DENIED);
	assert_int_equal(breaker_allow(&b, 1000), BREAKER_PROBE);
	assert_int_equal(breaker_record(&b, 1000, BREAKER_PROBE, BREAKER_FAILURE), BREAKER_TR_REOPENED);
	assert_int_equal(breaker_retry_at_ms(&b, 1000), 3000);
}

static void zero_config_members_take_the_spec_defaults(void **state)
{
	const struct breaker_config cfg = {0};
	struct breaker b;

	(void)state;
	breaker_init(&b, &cfg);
	assert_int_equal(b.b_cfg.bc_consecutive, 5);
	assert_int_equal(b.b_cfg.bc_min_calls, 10);
	assert_int_equal(b.b_cfg.bc_failure_pct, 50);
	assert_int_equal(b.b_cfg.bc_window_ms, 60000);
	assert_int_equal(b.b_cfg.bc_cooldown_ms, 30000);
	assert_int_equal(b.b_cfg.bc_cooldown_max_ms, 300000);
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
}

static void release_offsets_are_spread_not_simultaneous(void **state)
{
	int64_t off[50];

	(void)state;
	breaker_release_offsets(50, 10000, 7, off);
	for (int i = 0; i < 50; i++) {
		assert_true(off[i] >= 0 && off[i] < 10000);
		/* Each run in its own 200 ms slot: strictly increasing, never two at once. */
		assert_true(off[i] >= i * 200 && off[i] < (i + 1) * 200);
		if (i > 0)
			assert_true(off[i] > off[i - 1]);
	}
	assert_true(off[49] >= 9800); /* the whole spread is used */
}

static void release_offsets_depend_on_the_seed_only(void **state)
{
	int64_t a[8], b[8], c[8];

	(void)state;
	breaker_release_offsets(8, 10000, 1, a);
	breaker_release_offsets(8, 10000, 1, b);
	breaker_release_offsets(8, 10000, 2, c);
	assert_memory_equal(a, b, sizeof(a));
	assert_memory_not_equal(a, c, sizeof(a));
}

static void release_offsets_edge_cases(void **state)
{
	int64_t one, many[5] = {-1, -1, -1, -1, -1};

	(void)state;
	breaker_release_offsets(0, 10000, 1, NULL); /* writes nothing */
	breaker_release_offsets(1, 10000, 3, &one);
	assert_true(one >= 0 && one < 10000);
	breaker_release_offsets(5, 0, 3, many); /* no spread: all now */
	for (int i = 0; i < 5; i++)
		assert_int_equal(many[i], 0);
	breaker_release_offsets(5, 3, 3, many); /* fewer ms than runs: still ascending */
	for (int i = 1; i < 5; i++)
		assert_true(many[i] >= many[i - 1]);
}

/* Opens b at t (5 failures) and closes it with a probe after the cool-down; returns the closing time. */
static int64_t open_and_close(struct breaker *b, int64_t t)
{
	for (int i = 0; i < 5; i++)
		call(b, t, BREAKER_FAILURE);
	t = breaker_retry_at_ms(b, t);
	assert_int_equal(breaker_allow(b, t), BREAKER_PROBE);
	assert_int_equal(breaker_record(b, t, BREAKER_PROBE, BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	return t;
}

/* Admits held work at every ms of [from, to) while the release lasts; out gets the admission times. */
static size_t drain_held(struct breaker *b, int64_t from, int64_t to, int64_t *out, size_t max)
{
	size_t n = 0;

	for (int64_t t = from; t < to; t++)
		while (n < max && breaker_releasing(b) && breaker_held_capacity(b, t) > 0) {
			assert_int_equal(breaker_allow_held(b, t), BREAKER_ADMITTED);
			out[n++] = t;
		}
	return n;
}

static void held_work_is_released_one_slot_at_a_time(void **state)
{
	struct breaker b;
	int64_t at[16];
	int64_t t;

	(void)state;
	breaker_init(&b, NULL);
	t = open_and_close(&b, 1000);
	breaker_release_begin(&b, 10, 10000, 42, t);
	assert_true(breaker_releasing(&b));
	assert_int_equal(drain_held(&b, t, t + 10000, at, 16), 10);
	for (int i = 0; i < 10; i++) {
		/* Slot i of 1 s each, never two at once. */
		assert_true(at[i] >= t + i * 1000 && at[i] < t + (i + 1) * 1000);
		assert_int_equal(at[i] - t, breaker_release_offset((size_t)i, 10, 10000, 42));
	}
	/* Every slot handed out: held work goes freely again. */
	assert_false(breaker_releasing(&b));
	assert_true(breaker_held_capacity(&b, t + 10000) == SIZE_MAX);
	assert_int_equal(breaker_allow_held(&b, t + 10000), BREAKER_ADMITTED);
}

static void held_work_waits_for_its_slot(void **state)
{
	struct breaker b;
	int64_t t;

	(void)state;
	breaker_init(&b, NULL);
	t = open_and_close(&b, 0);
	breaker_release_begin(&b, 4, 4000, 7, t);
	int64_t first = t + breaker_release_offset(0, 4, 4000, 7);
	int64_t second = t + breaker_release_offset(1, 4, 4000, 7);
	if (first > t) {
		assert_int_equal(breaker_held_capacity(&b, first - 1), 0);
		assert_int_equal(breaker_allow_held(&b, first - 1), BREAKER_DENIED);
	}
	/* Late callers take the slots that are due, one call each, in order. */
	assert_int_equal(breaker_held_capacity(&b, second), 2);
	assert_int_equal(breaker_allow_held(&b, second), BREAKER_ADMITTED);
	assert_int_equal(breaker_allow_held(&b, second), BREAKER_ADMITTED);
	assert_int_equal(breaker_held_capacity(&b, second), 0);
	assert_int_equal(breaker_allow_held(&b, second), BREAKER_DENIED);
}

static void work_that_was_never_held_is_not_slowed_by_a_release(void **state)
{
	struct breaker b;
	int64_t t;

	(void)state;
	breaker_init(&b, NULL);
	t = open_and_close(&b, 0);
	breaker_release_begin(&b, 100, 60000, 1, t);
	assert_true(breaker_capacity(&b, t) == SIZE_MAX);
	for (int i = 0; i < 50; i++)
		assert_int_equal(breaker_allow(&b, t), BREAKER_ADMITTED);
	assert_true(breaker_releasing(&b));
}

static void a_breaker_reopened_during_its_release_releases_nothing_until_a_probe_closes_it(void **state)
{
	struct breaker b;
	int64_t at[16];
	int64_t t;

	(void)state;
	breaker_init(&b, NULL);
	t = open_and_close(&b, 0);
	breaker_release_begin(&b, 10, 10000, 3, t);
	assert_int_equal(drain_held(&b, t, t + 3000, at, 16), 3);

	/* The released calls fail again: the breaker re-opens and the release is abandoned. */
	t += 3000;
	for (int i = 0; i < 4; i++)
		assert_int_equal(call(&b, t, BREAKER_FAILURE), BREAKER_TR_NONE);
	assert_int_equal(call(&b, t, BREAKER_FAILURE), BREAKER_TR_OPENED);
	assert_false(breaker_releasing(&b));
	/* While open, the old slots that fall due admit nothing. */
	assert_int_equal(breaker_held_capacity(&b, t + 9999), 0);
	assert_int_equal(breaker_allow_held(&b, t + 9999), BREAKER_DENIED);

	/* The probe (held work may take it) fails: re-opened for twice the cool-down, still nothing released. */
	t += 30000;
	assert_int_equal(breaker_held_capacity(&b, t), 1);
	assert_int_equal(breaker_allow_held(&b, t), BREAKER_PROBE);
	assert_int_equal(breaker_held_capacity(&b, t), 0);
	assert_int_equal(breaker_allow_held(&b, t), BREAKER_DENIED);
	assert_int_equal(breaker_record(&b, t + 10, BREAKER_PROBE, BREAKER_FAILURE), BREAKER_TR_REOPENED);
	assert_false(breaker_releasing(&b));
	for (int64_t x = t + 10; x < t + 10 + 60000; x += 500) {
		assert_int_equal(breaker_held_capacity(&b, x), 0);
		assert_int_equal(breaker_allow_held(&b, x), BREAKER_DENIED);
	}

	/* The next probe succeeds: a new release, counted afresh from its closing time. */
	t += 10 + 60000;
	assert_int_equal(breaker_allow_held(&b, t), BREAKER_PROBE);
	assert_int_equal(breaker_record(&b, t, BREAKER_PROBE, BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	breaker_release_begin(&b, 4, 2000, 9, t);
	assert_int_equal(drain_held(&b, t, t + 2000, at, 16), 4);
	for (int i = 0; i < 4; i++)
		assert_true(at[i] >= t + i * 500 && at[i] < t + (i + 1) * 500);
}

static void a_release_needs_a_closed_breaker_work_and_time(void **state)
{
	struct breaker b;
	int64_t t;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	breaker_release_begin(&b, 10, 10000, 1, 0); /* open: nothing to release into */
	assert_false(breaker_releasing(&b));
	assert_int_equal(breaker_held_capacity(&b, 1), 0);

	t = breaker_retry_at_ms(&b, 0);
	assert_int_equal(breaker_allow(&b, t), BREAKER_PROBE);
	assert_int_equal(breaker_record(&b, t, BREAKER_PROBE, BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	breaker_release_begin(&b, 0, 10000, 1, t); /* nothing held */
	assert_false(breaker_releasing(&b));
	breaker_release_begin(&b, 10, 0, 1, t); /* no spread: all at once */
	assert_false(breaker_releasing(&b));
	assert_int_equal(breaker_allow_held(&b, t), BREAKER_ADMITTED);
}

static void capacity_follows_the_state(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	assert_true(breaker_capacity(&b, 0) == SIZE_MAX);
	assert_true(breaker_held_capacity(&b, 0) == SIZE_MAX);
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(breaker_capacity(&b, 29999), 0);
	assert_int_equal(breaker_capacity(&b, 30000), 1); /* the probe, not yet taken */
	assert_int_equal(breaker_allow(&b, 30000), BREAKER_PROBE);
	assert_int_equal(breaker_capacity(&b, 30000), 0);
	assert_int_equal(breaker_held_capacity(&b, 30000), 0);
}

static void an_operator_reset_closes_an_open_breaker_as_a_probe_would(void **state)
{
	struct breaker b;
	int64_t at[4];

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(call(&b, 30000, BREAKER_FAILURE), BREAKER_TR_REOPENED); /* the probe failed: 60 s now */
	assert_int_equal(breaker_reset(&b, 31000), BREAKER_TR_CLOSED);
	assert_int_equal(breaker_state_at(&b, 31000), BREAKER_CLOSED);
	assert_int_equal(breaker_allow(&b, 31000), BREAKER_ADMITTED);
	/* Held work is released through the release, as after a probe. */
	breaker_release_begin(&b, 2, 1000, 7, 31000);
	assert_true(breaker_releasing(&b));
	assert_int_equal(drain_held(&b, 31000, 32000, at, 4), 2);
	/* Window and failures in a row cleared, cool-down back to 30 s. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(call(&b, 32000, BREAKER_FAILURE), BREAKER_TR_NONE);
	assert_int_equal(call(&b, 32000, BREAKER_FAILURE), BREAKER_TR_OPENED);
	assert_int_equal(breaker_retry_at_ms(&b, 32000), 32000 + 30000);
}

static void a_reset_forgets_the_probe_in_flight(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, 0, BREAKER_FAILURE);
	assert_int_equal(breaker_allow(&b, 30000), BREAKER_PROBE);
	assert_int_equal(breaker_reset(&b, 30001), BREAKER_TR_CLOSED);
	/* The probe's late failure counts for nothing: it was not admitted by the closed breaker. */
	assert_int_equal(breaker_record(&b, 30002, BREAKER_PROBE, BREAKER_FAILURE), BREAKER_TR_NONE);
	assert_int_equal(breaker_state_at(&b, 30002), BREAKER_CLOSED);
	assert_int_equal(breaker_capacity(&b, 30002), SIZE_MAX);
}

static void a_reset_of_a_closed_breaker_changes_nothing(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 3; i++)
		call(&b, 0, BREAKER_FAILURE);
	breaker_release_begin(&b, 0, 1000, 1, 0);
	assert_int_equal(breaker_reset(&b, 10), BREAKER_TR_NONE);
	/* Still counting: two more failures open it. */
	call(&b, 20, BREAKER_FAILURE);
	assert_int_equal(call(&b, 20, BREAKER_FAILURE), BREAKER_TR_OPENED);
}

static void opened_elsewhere_a_closed_breaker_waits_until_the_shared_time(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	assert_int_equal(call(&b, 1000, BREAKER_FAILURE), BREAKER_TR_NONE); /* one failure: still closed */
	assert_int_equal(breaker_open_elsewhere(&b, 2000, 9000, 60000), BREAKER_TR_OPENED);
	assert_int_equal(breaker_state_at(&b, 2000), BREAKER_OPEN);
	assert_int_equal(breaker_allow(&b, 8999), BREAKER_DENIED);
	assert_int_equal(breaker_retry_at_ms(&b, 2000), 9000);
	assert_int_equal(b.b_consecutive, 0);
	assert_int_equal(b.b_opens, 1);
	/* At the shared time it half-opens here like any open breaker. */
	assert_int_equal(breaker_allow(&b, 9000), BREAKER_PROBE);
	/* Its failure doubles the deployment's cool-down (60 s), not the first one (30 s). */
	assert_int_equal(breaker_record(&b, 9100, BREAKER_PROBE, BREAKER_FAILURE), BREAKER_TR_REOPENED);
	assert_int_equal(breaker_retry_at_ms(&b, 9100), 9100 + 120000);
}

static void opened_elsewhere_again_moves_the_time_of_an_open_breaker(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, 1000 + i, BREAKER_FAILURE);
	assert_int_equal(breaker_state_at(&b, 1005), BREAKER_OPEN);
	/* Another server's failed probe re-opened it with a longer cool-down. */
	assert_int_equal(breaker_open_elsewhere(&b, 2000, 70000, 60000), BREAKER_TR_NONE);
	assert_int_equal(breaker_allow(&b, 31004), BREAKER_DENIED); /* its own cool-down would have ended */
	assert_int_equal(b.b_opens, 1);
	/* A half-open breaker whose probe is free (the lease went to another server) waits for that probe. */
	assert_int_equal(breaker_state_at(&b, 70000), BREAKER_HALF_OPEN);
	assert_int_equal(breaker_open_elsewhere(&b, 70000, 75000, 0), BREAKER_TR_NONE);
	assert_int_equal(breaker_capacity(&b, 74999), 0);
	assert_int_equal(breaker_allow(&b, 75000), BREAKER_PROBE);
}

static void opened_elsewhere_leaves_this_servers_probe_in_flight_alone(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, i, BREAKER_FAILURE);
	assert_int_equal(breaker_allow(&b, 30004), BREAKER_PROBE);
	assert_int_equal(breaker_open_elsewhere(&b, 30010, 90000, 60000), BREAKER_TR_NONE);
	assert_int_equal(breaker_record(&b, 30020, BREAKER_PROBE, BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	assert_int_equal(breaker_state_at(&b, 30020), BREAKER_CLOSED);
}

static void opened_elsewhere_cancels_a_release_and_keeps_the_cool_down_within_bounds(void **state)
{
	struct breaker b;

	(void)state;
	breaker_init(&b, NULL);
	for (int i = 0; i < 5; i++)
		call(&b, i, BREAKER_FAILURE);
	assert_int_equal(breaker_record(&b, 30004, breaker_allow(&b, 30004), BREAKER_SUCCESS), BREAKER_TR_CLOSED);
	breaker_release_begin(&b, 10, 10000, 7, 30004);
	assert_true(breaker_releasing(&b));
	assert_int_equal(breaker_open_elsewhere(&b, 30005, 40000, 999999999), BREAKER_TR_OPENED);
	assert_false(breaker_releasing(&b));
	assert_int_equal(breaker_held_capacity(&b, 30006), 0);
	assert_int_equal(b.b_cooldown_ms, 300000); /* capped at the maximum */
	assert_int_equal(breaker_open_elsewhere(&b, 30006, 40000, 1), BREAKER_TR_NONE);
	assert_int_equal(b.b_cooldown_ms, 30000); /* never below the first */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(five_consecutive_failures_open_it),
		cmocka_unit_test(a_success_resets_the_consecutive_count),
		cmocka_unit_test(half_of_ten_calls_in_a_minute_open_it),
		cmocka_unit_test(failure_rate_needs_ten_calls),
		cmocka_unit_test(calls_older_than_the_window_do_not_count),
		cmocka_unit_test(rolling_window_counts_recent_calls_across_buckets),
		cmocka_unit_test(open_breaker_allows_one_probe_after_the_cool_down),
		cmocka_unit_test(probe_success_closes_it),
		cmocka_unit_test(failed_probes_double_the_cool_down_up_to_five_minutes),
		cmocka_unit_test(abandoned_probe_frees_the_slot),
		cmocka_unit_test(late_answers_of_calls_admitted_before_opening_are_ignored),
		cmocka_unit_test(thresholds_are_configurable),
		cmocka_unit_test(zero_config_members_take_the_spec_defaults),
		cmocka_unit_test(release_offsets_are_spread_not_simultaneous),
		cmocka_unit_test(release_offsets_depend_on_the_seed_only),
		cmocka_unit_test(release_offsets_edge_cases),
		cmocka_unit_test(held_work_is_released_one_slot_at_a_time),
		cmocka_unit_test(held_work_waits_for_its_slot),
		cmocka_unit_test(work_that_was_never_held_is_not_slowed_by_a_release),
		cmocka_unit_test(a_breaker_reopened_during_its_release_releases_nothing_until_a_probe_closes_it),
		cmocka_unit_test(a_release_needs_a_closed_breaker_work_and_time),
		cmocka_unit_test(capacity_follows_the_state),
		cmocka_unit_test(an_operator_reset_closes_an_open_breaker_as_a_probe_would),
		cmocka_unit_test(a_reset_forgets_the_probe_in_flight),
		cmocka_unit_test(a_reset_of_a_closed_breaker_changes_nothing),
		cmocka_unit_test(opened_elsewhere_a_closed_breaker_waits_until_the_shared_time),
		cmocka_unit_test(opened_elsewhere_again_moves_the_time_of_an_open_breaker),
		cmocka_unit_test(opened_elsewhere_leaves_this_servers_probe_in_flight_alone),
		cmocka_unit_test(opened_elsewhere_cancels_a_release_and_keeps_the_cool_down_within_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
