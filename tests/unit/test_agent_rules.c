/* domain/agent_rules: the agent fields of docs/protocol.md, Resources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/agent_rules.h"

static char *tools_ok[] = {"read_file", "finish_task"};

static struct agent_values good(void)
{
	return (struct agent_values){"coder", "developer", "anthropic", "claude", "", tools_ok, 2, 0, 0, "", 0};
}

static void a_complete_agent_is_valid_with_defaults(void **state)
{
	struct agent_values v = good();
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_ALL, 1), 0);
}

static void every_offending_field_is_listed(void **state)
{
	char name[122], *tools[] = {"read_file", "rm_rf", "read_file"};
	struct agent_values v = {name, "", "", "", "", tools, 3, 65, 9, "max-tokens", 200001};
	bbb_status st;

	(void)state;
	memset(name, 'n', 121);
	name[121] = '\0';
	status_clear(&st);
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_ALL, 1), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(st.n_violations, 9);
	assert_string_equal(st.violations[0].field, "name");
	assert_string_equal(st.violations[1].field, "role");
	assert_string_equal(st.violations[2].field, "model_provider");
	assert_string_equal(st.violations[3].field, "model_name");
	assert_string_equal(st.violations[4].field, "enabled_tools");
	assert_non_null(strstr(st.violations[4].description, "rm_rf"));
	assert_string_equal(st.violations[5].field, "max_concurrency");
	assert_string_equal(st.violations[6].field, "token_limit_param");
	assert_string_equal(st.violations[7].field, "max_output_tokens");
	assert_string_equal(st.violations[8].field, "status");
}

static void token_limit_param_is_empty_or_one_of_the_two_openai_members(void **state)
{
	static const char *const ok[] = {"", "max_tokens", "max_completion_tokens"};
	static const char *const bad[] = {"auto", "max-tokens", "MAX_TOKENS", "max_output_tokens", " max_tokens"};
	struct agent_values v = good();
	bbb_status st;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v.av_token_param = ok[i];
		status_clear(&st);
		assert_int_equal(agent_values_check(&st, &v, AGENT_F_ALL, 1), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v.av_token_param = bad[i];
		status_clear(&st);
		assert_int_equal(agent_values_check(&st, &v, AGENT_F_TOKEN_PARAM, 0), -1);
		assert_string_equal(st.reason, "VALIDATION_ERROR");
		assert_string_equal(st.violations[0].field, "token_limit_param");
	}
}

static void a_tool_named_twice_is_refused(void **state)
{
	char *tools[] = {"write_file", "write_file"};
	struct agent_values v = good();
	bbb_status st;

	(void)state;
	v.av_tools = tools;
	v.av_n_tools = 2;
	status_clear(&st);
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_ALL, 1), -1);
	assert_non_null(strstr(st.violations[0].description, "twice"));
}

static void only_an_unknown_provider_is_invalid_llm_provider(void **state)
{
	struct agent_values v = good();
	bbb_status st;

	(void)state;
	v.av_provider = "mistral";
	status_clear(&st);
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_ALL, 1), -1);
	assert_string_equal(st.reason, "INVALID_LLM_PROVIDER");
	assert_non_null(strstr(st.message, "mistral"));
}

static void an_update_checks_only_its_fields_and_needs_explicit_values(void **state)
{
	struct agent_values v = {"", "", "", "", "", NULL, 0, 0, 0, "", 0};
	bbb_status st;

	(void)state;
	status_clear(&st);
	/* Only the persona is being changed: the empty name is not looked at. */
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_PERSONA, 0), 0);
	/* On update, 0 is not "the default": it is out of range. */
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_MAX_CONCURRENCY | AGENT_F_STATUS, 0), -1);
	assert_int_equal(st.n_violations, 2);
}

static void the_output_limit_is_the_runs_default_or_within_range(void **state)
{
	struct agent_values v = good();
	bbb_status st;

	(void)state;
	/* 0 leaves it to the run (its default), on create and on update alike. */
	status_clear(&st);
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_MAX_OUTPUT_TOKENS, 0), 0);
	v.av_max_output_tokens = 1;
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_ALL, 1), 0);
	v.av_max_output_tokens = 200000;
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_MAX_OUTPUT_TOKENS, 0), 0);
	v.av_max_output_tokens = -1;
	assert_int_equal(agent_values_check(&st, &v, AGENT_F_MAX_OUTPUT_TOKENS, 0), -1);
	assert_string_equal(st.violations[0].field, "max_output_tokens");
	assert_string_equal(agent_field_names[9], "max_output_tokens");
}

static void the_tool_set_is_the_one_of_the_spec(void **state)
{
	/* shell: the claude_code provider's Bash, only when an agent lists it. */
	const char *known[] = {"read_file",     "list_path",   "search_files", "write_file", "append_log",
			       "request_input", "finish_task", "block_task",   "shell"};

	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		assert_true(agent_tool_known(known[i]));
	assert_false(agent_tool_known("bash"));
	assert_false(agent_tool_known("Shell"));
	assert_false(agent_tool_known(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_complete_agent_is_valid_with_defaults),
		cmocka_unit_test(every_offending_field_is_listed),
		cmocka_unit_test(token_limit_param_is_empty_or_one_of_the_two_openai_members),
		cmocka_unit_test(a_tool_named_twice_is_refused),
		cmocka_unit_test(only_an_unknown_provider_is_invalid_llm_provider),
		cmocka_unit_test(an_update_checks_only_its_fields_and_needs_explicit_values),
		cmocka_unit_test(the_output_limit_is_the_runs_default_or_within_range),
		cmocka_unit_test(the_tool_set_is_the_one_of_the_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
