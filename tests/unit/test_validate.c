/* domain/validate: field rules of docs/protocol.md, Resources, and paging tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "beebeebrain/v1/common.pb-c.h"
#include "domain/validate.h"

static void text_length_counts_characters_not_bytes(void **state)
{
	bbb_status st;
	char title[200];

	(void)state;
	status_clear(&st);
	/* 160 two-byte characters are 320 bytes and still a valid title. */
	char long_utf8[2 * 160 + 1] = "";
	for (int i = 0; i < 160; i++)
		strcat(long_utf8, "\xc3\xa9");
	assert_int_equal(validate_text(&st, "title", long_utf8, 1, 160), 0);
	memset(title, 'x', 161);
	title[161] = '\0';
	assert_int_equal(validate_text(&st, "title", title, 1, 160), -1);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_string_equal(st.violations[0].field, "title");
	assert_non_null(strstr(st.violations[0].description, "1..160"));
}

static void empty_required_text_is_reported_as_required(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(validate_text(&st, "name", "", 1, 120), -1);
	assert_string_equal(st.violations[0].description, "is required");
}

static void invalid_utf8_is_refused(void **state)
{
	bbb_status st;
	const char *bad[] = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		status_clear(&st);
		assert_int_equal(validate_utf8_len(bad[i]), -1);
		assert_int_equal(validate_text(&st, "title", bad[i], 1, 160), -1);
	}
	assert_int_equal(validate_utf8_len("h\xc3\xa9llo \xf0\x9f\x90\x9d"), 7);
}

static void every_offending_field_is_listed(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	validate_text(&st, "title", "", 1, 160);
	validate_priority(&st, "priority", 9);
	validate_id(&st, "assignee_agent_id", -4, 0);
	validate_abs_path(&st, "root_path", "relative/dir");
	assert_int_equal(st.n_violations, 4);
	assert_string_equal(st.violations[1].field, "priority");
	assert_string_equal(st.violations[2].field, "assignee_agent_id");
	assert_string_equal(st.violations[3].description, "must be an absolute path");
	assert_non_null(strstr(st.message, "4 field(s)"));
}

static void priority_zero_means_default_and_one_to_five_are_valid(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	for (int p = 0; p <= 5; p++)
		assert_int_equal(validate_priority(&st, "priority", p), 0);
	assert_int_equal(validate_priority(&st, "priority", 6), -1);
	assert_int_equal(validate_priority(&st, "priority", -1), -1);
}

static void page_tokens_round_trip_and_garbage_is_refused(void **state)
{
	bbb_status st;
	char token[32];
	int64_t after;
	int limit;
	const char *bad[] = {"12", "c", "c-1", "c0", "cx", "c12x", "c99999999999999999999", "d12"};

	(void)state;
	status_clear(&st);
	paging_token(42, token, sizeof(token));
	assert_int_equal(paging_parse(&st, token, 0, 50, 100, &after, &limit), 0);
	assert_int_equal(after, 42);
	assert_int_equal(limit, 50);
	assert_int_equal(paging_parse(&st, "", 7, 50, 100, &after, &limit), 0);
	assert_int_equal(after, 0);
	assert_int_equal(limit, 7);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		status_clear(&st);
		assert_int_equal(paging_parse(&st, bad[i], 0, 50, 100, &after, &limit), -1);
		assert_string_equal(st.reason, "INVALID_PAGE_TOKEN");
	}
}

static void key_page_tokens_round_trip_and_garbage_is_refused(void **state)
{
	const int64_t key[3] = {3, 1700000000123, 42};
	const char *bad[] = {"c12",    "k",       "k3",    "k3.4",    "k3.4.5.6",
			     "k3.4.x", "k-3.4.5", "k3..5", "k3.4.5.", "k3.4.99999999999999999999"};
	int64_t got[3];
	char token[80];
	bbb_status st;
	int given;

	(void)state;
	status_clear(&st);
	paging_key_token(key, 3, token, sizeof(token));
	assert_string_equal(token, "k3.1700000000123.42");
	assert_int_equal(paging_parse_key(&st, token, got, 3, &given), 0);
	assert_true(given);
	assert_memory_equal(got, key, sizeof(key));
	assert_int_equal(paging_parse_key(&st, "", got, 3, &given), 0);
	assert_false(given);
	assert_int_equal(got[0], 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		status_clear(&st);
		assert_int_equal(paging_parse_key(&st, bad[i], got, 3, &given), -1);
		assert_string_equal(st.reason, "INVALID_PAGE_TOKEN");
		assert_false(given);
	}
}

static void limit_out_of_range_is_a_violation(void **state)
{
	bbb_status st;
	int64_t after;
	int limit;

	(void)state;
	status_clear(&st);
	assert_int_equal(paging_parse(&st, "", 101, 50, 100, &after, &limit), -1);
	assert_string_equal(st.violations[0].field, "limit");
	status_clear(&st);
	assert_int_equal(paging_parse(&st, "", -1, 50, 100, &after, &limit), -1);
}

static void enum_values_must_be_declared(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(validate_enum(&st, "status", &beebeebrain__v1__task_status__descriptor, 0, 1), 0);
	assert_int_equal(validate_enum(&st, "status", &beebeebrain__v1__task_status__descriptor, 7, 0), 0);
	assert_int_equal(validate_enum(&st, "status", &beebeebrain__v1__task_status__descriptor, 0, 0), -1);
	assert_int_equal(validate_enum(&st, "status", &beebeebrain__v1__task_status__descriptor, 42, 1), -1);
	assert_int_equal(st.n_violations, 2);
	assert_string_equal(st.violations[0].description, "is required");
	assert_non_null(strstr(st.violations[1].description, "42"));
}

static void providers_are_anthropic_openai_and_echo(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(validate_provider(&st, "p", "anthropic", 1), 0);
	assert_int_equal(validate_provider(&st, "p", "openai", 1), 0);
	assert_int_equal(validate_provider(&st, "p", "echo", 1), 0);
	assert_int_equal(validate_provider(&st, "p", "", 0), 0);
	assert_int_equal(validate_provider(&st, "p", "", 1), -1);
	assert_int_equal(validate_provider(&st, "p", "Echo", 0), -1);
	assert_int_equal(st.n_violations, 2);
}

static void dates_are_real_calendar_days(void **state)
{
	const char *good[] = {"2026-11-28", "2024-02-29", "2000-02-29", "1970-01-01"};
	const char *bad[] = {"2026-11-31", "2023-02-29", "1900-02-29", "2026-1-01", "2026-01-01T00:00:00Z",
			     "2026/01/01", "20260101",   "2026- 1-01", "+026-01-01"};
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		status_clear(&st);
		if (validate_date(&st, "from_date", good[i], 1) != 0)
			fail_msg("%s was refused", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		status_clear(&st);
		if (validate_date(&st, "from_date", bad[i], 1) == 0)
			fail_msg("%s was accepted", bad[i]);
	}
	status_clear(&st);
	assert_int_equal(validate_date(&st, "from_date", "", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_length_counts_characters_not_bytes),
		cmocka_unit_test(empty_required_text_is_reported_as_required),
		cmocka_unit_test(invalid_utf8_is_refused),
		cmocka_unit_test(every_offending_field_is_listed),
		cmocka_unit_test(priority_zero_means_default_and_one_to_five_are_valid),
		cmocka_unit_test(page_tokens_round_trip_and_garbage_is_refused),
		cmocka_unit_test(limit_out_of_range_is_a_violation),
		cmocka_unit_test(key_page_tokens_round_trip_and_garbage_is_refused),
		cmocka_unit_test(enum_values_must_be_declared),
		cmocka_unit_test(providers_are_anthropic_openai_and_echo),
		cmocka_unit_test(dates_are_real_calendar_days),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
