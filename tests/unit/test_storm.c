/* domain/storm: the retry-storm window: threshold, the window, thresholds of 64 and more, one alert per storm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/storm.h"

/* n entries at t; returns how many of them reported STORM_STARTED. */
static int note_n(struct storm *s, int64_t t, int n)
{
	int started = 0;

	for (int i = 0; i < n; i++)
		started += storm_note(s, t) == STORM_STARTED;
	return started;
}

static void more_than_the_threshold_within_a_minute_is_a_storm(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 20, 60000);
	/* 20 entries over 40 s: at the threshold, not over it. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(storm_note(&s, 1000000 + i * 2000), STORM_NONE);
	assert_int_equal(storm_count(&s, 1040000), 20);
	assert_int_equal(storm_note(&s, 1040000), STORM_STARTED);
}

static void entries_older_than_the_window_do_not_count(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 20, 60000);
	/* 20 entries, then 20 more 61 s later: never more than 20 within a minute. */
	assert_int_equal(note_n(&s, 0, 20), 0);
	assert_int_equal(note_n(&s, 61000, 20), 0);
	assert_int_equal(storm_count(&s, 61000), 20);
	assert_int_equal(storm_count(&s, 121000), 0);
}

static void thresholds_of_64_and_more_work(void **state)
{
	static const int64_t thresholds[] = {63, 64, 65, 100, 1000, 100000};
	struct storm s;

	(void)state;
	for (size_t k = 0; k < sizeof(thresholds) / sizeof(thresholds[0]); k++) {
		int64_t th = thresholds[k];

		storm_init(&s, th, 60000);
		for (int64_t i = 0; i < th; i++)
			assert_int_equal(storm_note(&s, 5000 + i % 50000), STORM_NONE);
		assert_int_equal(storm_count(&s, 55000), th);
		assert_int_equal(storm_note(&s, 55000), STORM_STARTED);
	}
}

static void a_storm_is_reported_once_until_it_ended(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 3, 60000);
	assert_int_equal(note_n(&s, 1000, 4), 1);
	/* Still storming: more entries raise nothing new, and it has not ended. */
	assert_int_equal(note_n(&s, 2000, 10), 0);
	assert_int_equal(storm_check(&s, 30000), STORM_NONE);
	/* The last entry left the window a minute later: over, once. */
	assert_int_equal(storm_check(&s, 62000), STORM_ENDED);
	assert_int_equal(storm_check(&s, 63000), STORM_NONE);
	/* A new storm is a new alert. */
	assert_int_equal(note_n(&s, 100000, 4), 1);
}

static void a_storm_lasts_while_entries_keep_coming(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 3, 60000);
	assert_int_equal(note_n(&s, 0, 4), 1);
	/* One entry every 50 s: below the threshold, but never a calm minute. */
	for (int64_t t = 50000; t <= 500000; t += 50000) {
		assert_int_equal(storm_note(&s, t), STORM_NONE);
		assert_int_equal(storm_check(&s, t + 1000), STORM_NONE);
	}
	assert_int_equal(storm_check(&s, 561000), STORM_ENDED);
}

static void calm_without_a_storm_reports_nothing(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 20, 60000);
	assert_int_equal(storm_check(&s, 0), STORM_NONE);
	assert_int_equal(storm_check(&s, 1000000), STORM_NONE);
	assert_int_equal(note_n(&s, 10, 5), 0);
	assert_int_equal(storm_check(&s, 100000), STORM_NONE);
}

static void zero_settings_take_the_defaults(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 0, 0);
	assert_int_equal(s.s_threshold, STORM_DEFAULT_THRESHOLD);
	assert_int_equal(s.s_window_ms, STORM_DEFAULT_WINDOW_MS);
	assert_int_equal(note_n(&s, 0, 20), 0);
	assert_int_equal(note_n(&s, 0, 1), 1);
}

static void a_short_window_counts_in_short_buckets(void **state)
{
	struct storm s;

	(void)state;
	storm_init(&s, 2, 600); /* 10 ms buckets */
	assert_int_equal(note_n(&s, 1000, 2), 0);
	assert_int_equal(storm_count(&s, 1590), 2);
	assert_int_equal(storm_count(&s, 1600), 0);
	assert_int_equal(note_n(&s, 1600, 3), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(more_than_the_threshold_within_a_minute_is_a_storm),
		cmocka_unit_test(entries_older_than_the_window_do_not_count),
		cmocka_unit_test(thresholds_of_64_and_more_work),
		cmocka_unit_test(a_storm_is_reported_once_until_it_ended),
		cmocka_unit_test(a_storm_lasts_while_entries_keep_coming),
		cmocka_unit_test(calm_without_a_storm_reports_nothing),
		cmocka_unit_test(zero_settings_take_the_defaults),
		cmocka_unit_test(a_short_window_counts_in_short_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
