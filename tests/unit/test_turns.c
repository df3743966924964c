/* runtime/turns: recorded turns back into a conversation, the way a retried, resumed or recovered run rebuilds it:
 * answers, one result per call (a call without a recorded result answered "outcome unknown", never run again), the
 * request to continue a cut answer, and the text of the answer still being written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "runtime/provider.h"
#include "runtime/turns.h"

static void a_turn_adds_its_answer_then_one_result_per_call(void **state)
{
	struct store_tool_call calls[] = {
		{"toolu_1", "write_file", "{\"path\":\"a.txt\",\"content\":\"one\"}", "wrote 3 bytes to a.txt", 0},
		{"toolu_2", "read_file", "{\"path\":\"b.txt\"}", "VALIDATION_ERROR: no such file", 1},
	};
	struct store_turn t = {1, 1, "writing", "tool_use", "", calls, 2};
	struct provider_conv c;

	(void)state;
	provider_conv_init(&c);
	assert_int_equal(turns_conv_restore(&c, &t, 1), 0);
	assert_int_equal(c.c_n, 3);
	assert_int_equal(c.c_msgs[0].m_role, PROVIDER_ROLE_ASSISTANT);
	assert_string_equal(c.c_msgs[0].m_text, "writing");
	assert_int_equal(c.c_msgs[0].m_n_calls, 2);
	assert_string_equal(c.c_msgs[0].m_calls[0].tc_id, "toolu_1");
	assert_string_equal(c.c_msgs[0].m_calls[0].tc_arguments, "{\"path\":\"a.txt\",\"content\":\"one\"}");
	assert_int_equal(c.c_msgs[1].m_role, PROVIDER_ROLE_TOOL);
	assert_string_equal(c.c_msgs[1].m_tool_call_id, "toolu_1");
	assert_string_equal(c.c_msgs[1].m_text, "wrote 3 bytes to a.txt");
	assert_false(c.c_msgs[1].m_is_error);
	assert_string_equal(c.c_msgs[2].m_tool_call_id, "toolu_2");
	assert_true(c.c_msgs[2].m_is_error);
	provider_conv_free(&c);
}

static void a_call_without_a_result_is_answered_unknown_and_marked_to_be_recorded(void **state)
{
	struct store_tool_call calls[] = {
		{"toolu_1", "write_file", "{}", "wrote 3 bytes to a.txt", 0},
		{"toolu_2", "write_file", "{}", NULL, 0},
	};
	struct store_turn turns[] = {
		{1, 1, "", "tool_use", "", calls, 2},
		{2, 2, "done", "end_turn", "", NULL, 0},
	};
	struct provider_conv c;

	(void)state;
	provider_conv_init(&c);
	assert_int_equal(turns_conv_restore(&c, turns, 2), 1);
	assert_int_equal(c.c_n, 4);
	assert_string_equal(c.c_msgs[2].m_tool_call_id, "toolu_2");
	assert_string_equal(c.c_msgs[2].m_text, TURNS_UNKNOWN_RESULT);
	assert_true(c.c_msgs[2].m_is_error);
	/* The caller records what the model was told. */
	assert_string_equal(calls[1].stc_result, TURNS_UNKNOWN_RESULT);
	assert_true(calls[1].stc_is_error);
	assert_string_equal(c.c_msgs[3].m_text, "done");
	provider_conv_free(&c);
}

static void a_cut_answer_is_followed_by_the_request_to_continue(void **state)
{
	struct store_turn t = {1, 1, "The first half of", "max_tokens", "Continue.", NULL, 0};
	struct provider_conv c;

	(void)state;
	provider_conv_init(&c);
	turns_conv_restore(&c, &t, 1);
	assert_int_equal(c.c_n, 2);
	assert_int_equal(c.c_msgs[0].m_role, PROVIDER_ROLE_ASSISTANT);
	assert_int_equal(c.c_msgs[1].m_role, PROVIDER_ROLE_USER);
	assert_string_equal(c.c_msgs[1].m_text, "Continue.");
	provider_conv_free(&c);
}

static void a_blank_answer_without_calls_adds_no_assistant_message(void **state)
{
	struct store_turn t = {1, 1, " \n\n ", "max_tokens", "Continue.", NULL, 0};
	struct provider_conv c;

	(void)state;
	provider_conv_init(&c);
	turns_conv_restore(&c, &t, 1);
	/* The APIs refuse an empty assistant message: only the follow-up is left. */
	assert_int_equal(c.c_n, 1);
	assert_int_equal(c.c_msgs[0].m_role, PROVIDER_ROLE_USER);
	provider_conv_free(&c);
}

static void the_cut_text_is_that_of_the_last_continued_answers(void **state)
{
	struct store_tool_call call = {"toolu_1", "read_file", "{}", "x", 0};
	struct store_turn turns[] = {
		{1, 1, "ignored ", "max_tokens", "Continue.", NULL, 0},
		{2, 2, "calls ", "tool_use", "", &call, 1},
		{3, 3, "Once upon ", "max_tokens", "Continue.", NULL, 0},
		{4, 4, "a time", "max_tokens", "Continue.", NULL, 0},
	};
	char *text;

	(void)state;
	text = turns_cut_text(turns, 4);
	assert_string_equal(text, "Once upon a time");
	free(text);
	/* A turn with calls ends the answer being written. */
	assert_null(turns_cut_text(turns, 2));
	assert_null(turns_cut_text(turns, 0));
	text = turns_cut_text(turns, 1);
	assert_string_equal(text, "ignored ");
	free(text);
}

static void the_runtimes_own_texts_name_the_limit(void **state)
{
	char *a = turns_continue_text(123), *b = turns_cut_call_result(123);

	(void)state;
	assert_non_null(strstr(a, "123 tokens"));
	assert_non_null(strstr(b, "not run"));
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_turn_adds_its_answer_then_one_result_per_call),
		cmocka_unit_test(a_call_without_a_result_is_answered_unknown_and_marked_to_be_recorded),
		cmocka_unit_test(a_cut_answer_is_followed_by_the_request_to_continue),
		cmocka_unit_test(a_blank_answer_without_calls_adds_no_assistant_message),
		cmocka_unit_test(the_cut_text_is_that_of_the_last_continued_answers),
		cmocka_unit_test(the_runtimes_own_texts_name_the_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
