/* common/: redaction, clock parsing and formatting, the arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/clock.h"
#include "common/redact.h"

static void secrets_are_redacted(void **state)
{
	char s[256];

	(void)state;
	snprintf(s, sizeof(s), "Authorization: Bearer abc.def-123 and x-api-key: sk-ant-XYZ password=hunter2 ok");
	redact(s, sizeof(s));
	assert_string_equal(s, "Authorization: Bearer [REDACTED] and x-api-key: [REDACTED] password=[REDACTED] ok");
	snprintf(s, sizeof(s), "key sk-proj-abcdef1234 leaked; token=t0k; secret=s");
	redact(s, sizeof(s));
	assert_string_equal(s, "key [REDACTED] leaked; token=[REDACTED]; secret=[REDACTED]");
}

static void text_without_secrets_is_untouched(void **state)
{
	char s[128] = "task 12 moved from todo to running (risk-assessment)";

	(void)state;
	redact(s, sizeof(s));
	assert_string_equal(s, "task 12 moved from todo to running (risk-assessment)");
}

static void redaction_never_overflows_a_small_buffer(void **state)
{
	char s[12] = "token=ab";

	(void)state;
	redact(s, sizeof(s));
	assert_true(strlen(s) < sizeof(s));
	assert_null(strstr(s, "ab"));
}

/* Found by fuzz_redact: the value of one marker swallowed the next marker,
 * whose own value then came out in clear. */
static void a_marker_inside_a_value_has_its_value_redacted_too(void **state)
{
	char s[256];

	(void)state;
	snprintf(s, sizeof(s), "token=Bearer abc123 secret=x-api-key:def456");
	redact(s, sizeof(s));
	assert_string_equal(s, "token=Bearer [REDACTED] secret=x-api-key:[REDACTED]");
	assert_null(strstr(s, "abc123"));
}

/* Found by fuzz_redact: a text cut to fit the buffer lost half a character. */
static void a_text_cut_to_fit_keeps_whole_characters(void **state)
{
	char s[13] = "sk-a \xc3\xa9"
		     "12345";

	(void)state;
	redact(s, sizeof(s));
	assert_string_equal(s, "[REDACTED] ");
}

static void rfc3339_round_trips_in_utc(void **state)
{
	char buf[40];
	int64_t ms;

	(void)state;
	assert_int_equal(clock_parse_rfc3339("2026-11-28T04:05:06.789Z", &ms), 0);
	assert_int_equal(ms, 1795838706789LL);
	clock_format_rfc3339(ms, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-28T04:05:06.789Z");
	assert_int_equal(clock_parse_rfc3339("2026-11-28T05:05:06+01:00", &ms), 0);
	assert_int_equal(ms, 1795838706000LL);
	assert_int_equal(clock_parse_rfc3339("2026-11-28", &ms), 0);
	assert_int_equal(ms, 1795824000000LL);
}

static void malformed_times_are_refused(void **state)
{
	const char *bad[] = {"",
			     "tomorrow",
			     "2026-13-01",
			     "2026-11-28T25:00:00Z",
			     "2026-11-28T04:05:06",
			     "2026-11-28T04:05Z",
			     "2026-11-28T04:05:06Zjunk",
			     "2026-11-28T04:05:06.Z"};
	int64_t ms;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(clock_parse_rfc3339(bad[i], &ms), -1);
}

static void arena_memory_is_zeroed_aligned_and_large_blocks_work(void **state)
{
	struct arena a;
	char *big;

	(void)state;
	arena_init(&a);
	for (int i = 0; i < 1000; i++) {
		uint64_t *p = arena_alloc(&a, 24);
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
		assert_int_equal(p[0] | p[1] | p[2], 0);
		p[0] = p[1] = p[2] = ~0ull;
	}
	big = arena_alloc(&a, 1 << 20);
	big[(1 << 20) - 1] = 'x';
	assert_string_equal(arena_printf(&a, "%s-%d", "run", 7), "run-7");
	arena_reset(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secrets_are_redacted),
		cmocka_unit_test(text_without_secrets_is_untouched),
		cmocka_unit_test(redaction_never_overflows_a_small_buffer),
		cmocka_unit_test(a_marker_inside_a_value_has_its_value_redacted_too),
		cmocka_unit_test(a_text_cut_to_fit_keeps_whole_characters),
		cmocka_unit_test(rfc3339_round_trips_in_utc),
		cmocka_unit_test(malformed_times_are_refused),
		cmocka_unit_test(arena_memory_is_zeroed_aligned_and_large_blocks_work),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
