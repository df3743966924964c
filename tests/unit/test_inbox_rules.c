/* domain/inbox_rules: when an item may be closed and what closing it does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/inbox_rules.h"

#define I(x) BEEBEEBRAIN__V1__INBOX_ITEM_TYPE__INBOX_ITEM_TYPE_##x
#define S(x) BEEBEEBRAIN__V1__INBOX_STATUS__INBOX_STATUS_##x
#define SRC(x) BEEBEEBRAIN__V1__SOURCE_TYPE__SOURCE_TYPE_##x
#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

static void closing_a_closed_item_is_refused(void **state)
{
	bbb_status st;

	(void)state;
	for (int type = I(AWAIT_USER_INPUT); type <= I(OPERATOR_NOTE); type++) {
		status_clear(&st);
		assert_int_equal(inbox_close_check(type, S(CLOSED), "x", &st), -1);
		assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
		assert_string_equal(st.reason, "INBOX_ITEM_ALREADY_CLOSED");
	}
}

static void await_user_input_needs_input_and_blank_is_none(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(inbox_close_check(I(AWAIT_USER_INPUT), S(OPEN), " \n\t", &st), -1);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "USER_INPUT_REQUIRED");
	assert_non_null(strstr(st.message, "user_input"));
	status_clear(&st);
	assert_int_equal(inbox_close_check(I(AWAIT_USER_INPUT), S(OPEN), "use sqlite", &st), 0);
}

static void other_items_close_without_input(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(inbox_close_check(I(TASK_COMPLETED), S(OPEN), "", &st), 0);
	assert_int_equal(inbox_close_check(I(INCIDENT), S(OPEN), "", &st), 0);
	assert_int_equal(inbox_close_check(I(OPERATOR_NOTE), S(OPEN), "", &st), 0);
}

static void input_goes_to_a_new_run_only_for_a_blocked_task(void **state)
{
	(void)state;
	assert_int_equal(inbox_close_effect(I(AWAIT_USER_INPUT), SRC(TASK), T(BLOCKED)), INBOX_CLOSE_INPUT_TO_RUN);
	for (int s = T(TODO); s <= T(CANCELLED); s++)
		if (s != T(BLOCKED))
			assert_int_equal(inbox_close_effect(I(AWAIT_USER_INPUT), SRC(TASK), s), INBOX_CLOSE_ONLY);
	assert_int_equal(inbox_close_effect(I(AWAIT_USER_INPUT), SRC(SYSTEM), T(BLOCKED)), INBOX_CLOSE_ONLY);
}

static void a_completed_task_in_review_becomes_done(void **state)
{
	(void)state;
	assert_int_equal(inbox_close_effect(I(TASK_COMPLETED), SRC(TASK), T(REVIEW)), INBOX_CLOSE_TASK_DONE);
	assert_int_equal(inbox_close_effect(I(TASK_COMPLETED), SRC(TASK), T(RUNNING)), INBOX_CLOSE_ONLY);
	assert_int_equal(inbox_close_effect(I(TASK_COMPLETED), SRC(TASK), T(UNSPECIFIED)), INBOX_CLOSE_ONLY);
	assert_int_equal(inbox_close_effect(I(OPERATOR_NOTE), SRC(TASK), T(REVIEW)), INBOX_CLOSE_ONLY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(closing_a_closed_item_is_refused),
		cmocka_unit_test(await_user_input_needs_input_and_blank_is_none),
		cmocka_unit_test(other_items_close_without_input),
		cmocka_unit_test(input_goes_to_a_new_run_only_for_a_blocked_task),
		cmocka_unit_test(a_completed_task_in_review_becomes_done),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
