/* domain/run_rules: RunTask validation, reuse of runs by idempotency key, provider and model choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/status.h"
#include "domain/run_rules.h"

#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x

static struct run_request good(void)
{
	return (struct run_request){"write the tests", "", "", "", 0, 0, "", 0};
}

static void a_plain_request_is_valid(void **state)
{
	struct run_request r = good();
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), 0);
	r = (struct run_request){"p", "anthropic", "claude", "be brief", 100, 600, "key-1", 200000};
	assert_int_equal(run_request_check(&st, &r), 0);
}

static void every_out_of_range_field_is_listed(void **state)
{
	char key[82];
	struct run_request r = {"", "echo", "", "", 101, 601, key, 200001};
	bbb_status st;

	(void)state;
	memset(key, 'k', 81);
	key[81] = '\0';
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(st.n_violations, 5);
	assert_string_equal(st.violations[0].field, "prompt");
	assert_string_equal(st.violations[1].field, "max_turns");
	assert_string_equal(st.violations[2].field, "timeout_seconds");
	assert_string_equal(st.violations[3].field, "max_output_tokens");
	assert_string_equal(st.violations[4].field, "idempotency_key");
}

static void an_unknown_provider_alone_is_invalid_llm_provider(void **state)
{
	struct run_request r = good();
	bbb_status st;

	(void)state;
	r.rr_provider = "gemini";
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), -1);
	assert_int_equal(st.code, BBB_INVALID_ARGUMENT);
	assert_string_equal(st.reason, "INVALID_LLM_PROVIDER");
	assert_int_equal(st.n_violations, 0);
	assert_non_null(strstr(st.message, "gemini"));
	/* With other faults it is one violation among them. */
	r.rr_prompt = "";
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(st.n_violations, 2);
}

static void a_whitespace_only_prompt_is_refused(void **state)
{
	struct run_request r = good();
	bbb_status st;

	(void)state;
	r.rr_prompt = " \n\t ";
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), -1);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_int_equal(st.n_violations, 1);
	assert_string_equal(st.violations[0].field, "prompt");
	assert_non_null(strstr(st.violations[0].description, "non-whitespace"));
	r.rr_prompt = "  go ";
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), 0);
}

static void a_key_with_spaces_is_refused(void **state)
{
	struct run_request r = good();
	bbb_status st;

	(void)state;
	r.rr_key = "two words";
	status_clear(&st);
	assert_int_equal(run_request_check(&st, &r), -1);
	assert_string_equal(st.violations[0].field, "idempotency_key");
}

static void the_same_key_on_the_same_task_returns_that_run(void **state)
{
	struct run_brief keyed = {5, 1, R(SUCCEEDED)}, active = {0};
	enum run_decision d;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(run_request_decide(1, &keyed, &active, &d, &st), 0);
	assert_int_equal(d, RUN_REUSE_KEYED);
	/* Even while it is the active run. */
	active = keyed = (struct run_brief){6, 1, R(QUEUED)};
	assert_int_equal(run_request_decide(1, &keyed, &active, &d, &st), 0);
	assert_int_equal(d, RUN_REUSE_KEYED);
}

static void the_key_of_another_tasks_run_is_a_conflict(void **state)
{
	struct run_brief keyed = {5, 2, R(QUEUED)}, active = {0};
	enum run_decision d;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(run_request_decide(1, &keyed, &active, &d, &st), -1);
	assert_int_equal(st.code, BBB_ALREADY_EXISTS);
	assert_string_equal(st.reason, "IDEMPOTENCY_KEY_CONFLICT");
}

static void a_second_active_run_with_another_key_is_refused(void **state)
{
	struct run_brief keyed = {0}, active;
	enum run_decision d;
	bbb_status st;
	const run_status actives[] = {R(QUEUED), R(RUNNING), R(RETRY_SCHEDULED), R(INTERRUPTED)};

	(void)state;
	for (size_t i = 0; i < sizeof(actives) / sizeof(actives[0]); i++) {
		active = (struct run_brief){3, 1, actives[i]};
		status_clear(&st);
		assert_int_equal(run_request_decide(1, &keyed, &active, &d, &st), -1);
		assert_int_equal(st.code, BBB_FAILED_PRECONDITION);
		assert_string_equal(st.reason, "TASK_RUN_ALREADY_ACTIVE");
	}
	status_clear(&st);
	assert_int_equal(run_request_decide(1, &keyed, &(struct run_brief){0}, &d, &st), 0);
	assert_int_equal(d, RUN_QUEUE_NEW);
}

static void provider_and_model_come_from_the_request_else_the_agent(void **state)
{
	const char *p, *m;
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(run_pick_model(&st, "", "", "anthropic", "claude-x", &p, &m), 0);
	assert_string_equal(p, "anthropic");
	assert_string_equal(m, "claude-x");
	assert_int_equal(run_pick_model(&st, "", "claude-y", "anthropic", "claude-x", &p, &m), 0);
	assert_string_equal(m, "claude-y");
	/* Another provider does not inherit the agent's model. */
	assert_int_equal(run_pick_model(&st, "echo", "", "anthropic", "claude-x", &p, &m), 0);
	assert_string_equal(p, "echo");
	assert_string_equal(m, "");
	assert_int_equal(run_pick_model(&st, "", "", "", "", &p, &m), -1);
	assert_string_equal(st.violations[0].field, "provider");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_plain_request_is_valid),
		cmocka_unit_test(every_out_of_range_field_is_listed),
		cmocka_unit_test(an_unknown_provider_alone_is_invalid_llm_provider),
		cmocka_unit_test(a_whitespace_only_prompt_is_refused),
		cmocka_unit_test(a_key_with_spaces_is_refused),
		cmocka_unit_test(the_same_key_on_the_same_task_returns_that_run),
		cmocka_unit_test(the_key_of_another_tasks_run_is_a_conflict),
		cmocka_unit_test(a_second_active_run_with_another_key_is_refused),
		cmocka_unit_test(provider_and_model_come_from_the_request_else_the_agent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
