/* domain/tool_rules: what each tool does and how a repeated idempotency key is judged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/tool_rules.h"

#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

static void finish_task_is_review_to_done_and_the_others_block(void **state)
{
	bbb_status st;

	(void)state;
	assert_int_equal(tool_target(TOOL_FINISH_TASK), T(DONE));
	assert_int_equal(tool_target(TOOL_BLOCK_TASK), T(BLOCKED));
	assert_int_equal(tool_target(TOOL_REQUEST_INPUT), T(BLOCKED));
	/* finish_task from running skips the review: the task machine refuses it. */
	status_clear(&st);
	assert_int_equal(task_transition_check(T(RUNNING), tool_target(TOOL_FINISH_TASK), &st), -1);
	assert_string_equal(st.reason, "INVALID_TASK_TRANSITION");
	assert_string_equal(tool_name(TOOL_REQUEST_INPUT), "request_input");
}

static void keys_are_1_to_120_printable_characters(void **state)
{
	char key[122];
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(tool_key_check(&st, "run-7-finish"), 0);
	memset(key, 'k', 120);
	key[120] = '\0';
	assert_int_equal(tool_key_check(&st, key), 0);
	key[120] = 'k';
	key[121] = '\0';
	assert_int_equal(tool_key_check(&st, key), -1);
	assert_int_equal(tool_key_check(&st, ""), -1);
	assert_int_equal(tool_key_check(&st, "a b"), -1);
	assert_int_equal(st.n_violations, 3);
	assert_string_equal(st.violations[0].field, "idempotency_key");
}

static void a_key_replays_only_for_the_same_tool_and_task(void **state)
{
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(tool_replay_check("block_task", 4, TOOL_BLOCK_TASK, 4, &st), 0);
	assert_int_equal(tool_replay_check("block_task", 4, TOOL_FINISH_TASK, 4, &st), -1);
	assert_int_equal(st.code, BBB_ALREADY_EXISTS);
	assert_string_equal(st.reason, "IDEMPOTENCY_KEY_CONFLICT");
	status_clear(&st);
	assert_int_equal(tool_replay_check("block_task", 4, TOOL_BLOCK_TASK, 5, &st), -1);
	assert_string_equal(st.reason, "IDEMPOTENCY_KEY_CONFLICT");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finish_task_is_review_to_done_and_the_others_block),
		cmocka_unit_test(keys_are_1_to_120_printable_characters),
		cmocka_unit_test(a_key_replays_only_for_the_same_tool_and_task),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
