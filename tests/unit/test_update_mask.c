/* domain/update_mask: presence of partial updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/update_mask.h"

static const char *const fields[] = {"title", "description", "status", "priority"};

static void named_fields_become_bits(void **state)
{
	char *mask[] = {"priority", "title"};
	unsigned bits;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(update_mask_parse(&st, mask, 2, fields, 4, &bits), 0);
	assert_int_equal(bits, (1u << 0) | (1u << 3));
}

static void an_empty_mask_is_refused(void **state)
{
	unsigned bits;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(update_mask_parse(&st, NULL, 0, fields, 4, &bits), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_string_equal(st.violations[0].field, "update_mask");
}

static void unknown_and_repeated_names_are_each_a_violation(void **state)
{
	char *mask[] = {"title", "colour", "title", "version"};
	unsigned bits;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(update_mask_parse(&st, mask, 4, fields, 4, &bits), -1);
	assert_int_equal(st.n_violations, 3);
	assert_non_null(strstr(st.violations[0].description, "colour"));
	assert_non_null(strstr(st.violations[1].description, "twice"));
	assert_non_null(strstr(st.violations[2].description, "version"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(named_fields_become_bits),
		cmocka_unit_test(an_empty_mask_is_refused),
		cmocka_unit_test(unknown_and_repeated_names_are_each_a_violation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
