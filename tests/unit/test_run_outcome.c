/* domain/run_outcome: every outcome of a finished call (retry at T, fail with code, tool calls, next turn,
 * interrupted, cancelled, succeeded), Retry-After beyond the cap, the attempt cap, what the breaker hears, a cut
 * answer (continued, never a success), and a run that starts again with recorded turns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/run_outcome.h"

#define R(x) BEEBEEBRAIN__V1__RUN_STATUS__RUN_STATUS_##x
#define T(x) BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_##x

#define NOW 1700000000000LL

static const struct retry_policy policy = RETRY_POLICY_DEFAULT; /* 4 attempts, 2 s base, 300 s cap */

static struct run_snapshot first_call(void)
{
	struct run_snapshot s = {.rs_turn = 1, .rs_max_turns = 8, .rs_has_breaker = 1};

	return s;
}

static struct run_call answered(int status, const char *body)
{
	struct run_call c = {
		.rc_end = RUN_CALL_ANSWERED,
		.rc_http_status = status,
		.rc_body = body,
		.rc_body_len = body != NULL ? strlen(body) : 0,
		.rc_retry_after_ms = -1,
	};

	return c;
}

static struct run_outcome decide(const struct run_call *c, const struct run_snapshot *s, uint64_t rnd)
{
	struct run_outcome o;

	run_outcome_of_call(c, s, &policy, NOW, rnd, &o);
	return o;
}

static void an_answer_without_tool_calls_succeeds(void **state)
{
	struct run_call c = answered(200, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 1;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_SUCCEEDED);
	assert_int_equal(o.ro_run_status, R(SUCCEEDED));
	assert_string_equal(o.ro_code, "");
	assert_int_equal(o.ro_task_to, 0); /* the usual mapping: review */
	assert_false(o.ro_keep_task);
	assert_true(o.ro_breaker_record);
	assert_int_equal(o.ro_breaker, BREAKER_SUCCESS);
	assert_true(o.ro_call_ok);
	assert_false(o.ro_call_error_alert);
}

static void an_answer_with_tool_calls_asks_for_the_tools(void **state)
{
	struct run_call c = answered(200, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 1;
	c.rc_n_tool_calls = 2;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_TOOL_CALLS);
	assert_int_equal(o.ro_run_status, R(RUNNING));
	assert_int_equal(o.ro_breaker, BREAKER_SUCCESS);
	assert_true(o.ro_call_ok);
}

static void a_timeout_is_retried_within_the_backoff_and_alerts(void **state)
{
	struct run_call c = {.rc_end = RUN_CALL_TIMEOUT, .rc_retry_after_ms = -1};
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	for (uint64_t rnd = 0; rnd < 5000; rnd += 7) {
		o = decide(&c, &s, rnd);
		assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
		assert_int_equal(o.ro_run_status, R(RETRY_SCHEDULED));
		assert_string_equal(o.ro_code, "LLM_TIMEOUT");
		assert_true(o.ro_retry_at_ms >= NOW && o.ro_retry_at_ms <= NOW + 2000); /* first retry: [0, base] */
		assert_int_equal(o.ro_breaker, BREAKER_FAILURE);
		assert_true(o.ro_call_error_alert);
		assert_false(o.ro_call_ok);
	}
	/* The same random word gives the same time. */
	assert_int_equal(decide(&c, &s, 1234).ro_retry_at_ms, decide(&c, &s, 1234).ro_retry_at_ms);
}

static void a_5xx_is_retried_under_the_breakers_alert_only(void **state)
{
	struct run_call c = answered(503, "{\"error\":{\"message\":\"overloaded\"}}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	o = decide(&c, &s, 99);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
	assert_string_equal(o.ro_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_int_equal(o.ro_breaker, BREAKER_FAILURE);
	assert_false(o.ro_call_error_alert); /* LLM_PROVIDER_UNAVAILABLE is the breaker's alert */
}

static void retry_after_is_waited_for(void **state)
{
	struct run_call c = answered(429, "{}");
	struct run_snapshot s = first_call();

	(void)state;
	c.rc_retry_after_ms = 3000;
	for (uint64_t rnd = 0; rnd < 100; rnd++) {
		struct run_outcome o = decide(&c, &s, rnd);
		assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
		assert_string_equal(o.ro_code, "LLM_RATE_LIMITED");
		assert_int_equal(o.ro_retry_at_ms, NOW + 3000); /* longer than any first backoff (2 s) */
	}
}

static void retry_after_beyond_the_cap_wins_over_the_cap(void **state)
{
	struct run_call c = answered(429, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	s.rs_retry_count = 2; /* the backoff cap of the third attempt would be 8 s; the max is 300 s */
	c.rc_retry_after_ms = 900000; /* 15 min, three times the 5 min cap */
	o = decide(&c, &s, UINT64_MAX);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
	assert_int_equal(o.ro_retry_at_ms, NOW + 900000);
}

static void a_retry_time_past_the_end_of_time_saturates(void **state)
{
	struct run_call c = answered(429, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_retry_after_ms = INT64_MAX - 5; /* a hostile header: must not wrap into the past */
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
	assert_true(o.ro_retry_at_ms == INT64_MAX);
}

static void attempts_are_capped(void **state)
{
	struct run_call c = answered(500, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	s.rs_retry_count = 2; /* this was the third attempt of four */
	assert_int_equal(decide(&c, &s, 0).ro_kind, RUN_OUTCOME_RETRY);
	s.rs_retry_count = 3; /* the fourth: no attempt left */
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_int_equal(o.ro_run_status, R(FAILED));
	assert_string_equal(o.ro_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_true(o.ro_exhausted);
	assert_int_equal(o.ro_breaker, BREAKER_FAILURE); /* the endpoint still failed */
	assert_int_equal(o.ro_task_to, 0); /* the usual mapping: failed */
}

static void a_final_error_fails_at_once_and_proves_the_endpoint_up(void **state)
{
	static const struct {
		int status;
		const char *body;
		const char *code;
	} rows[] = {
		{401, "{}", "LLM_AUTHENTICATION_FAILED"},
		{403, "{}", "LLM_AUTHENTICATION_FAILED"},
		{400, "{\"error\":{\"message\":\"prompt is too long\"}}", "LLM_CONTEXT_LIMIT_EXCEEDED"},
		{404, "{}", "LLM_INVALID_REQUEST"},
	};
	struct run_snapshot s = first_call();

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct run_call c = answered(rows[i].status, rows[i].body);
		struct run_outcome o = decide(&c, &s, 0);
		assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
		assert_string_equal(o.ro_code, rows[i].code);
		assert_false(o.ro_exhausted);
		assert_true(o.ro_breaker_record);
		assert_int_equal(o.ro_breaker, BREAKER_SUCCESS);
		assert_false(o.ro_call_ok);
	}
}

static void a_protocol_error_is_retried_once_per_run(void **state)
{
	struct run_call c = answered(200, "{\"id\": \"broken");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 0;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
	assert_string_equal(o.ro_code, "LLM_PROTOCOL_ERROR");
	assert_true(o.ro_protocol_error);
	assert_int_equal(o.ro_breaker, BREAKER_FAILURE);
	/* The run's second protocol error (the first was an earlier attempt) is final. */
	s.rs_retry_count = 1;
	s.rs_protocol_errors = 1;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_string_equal(o.ro_code, "LLM_PROTOCOL_ERROR");
	assert_true(o.ro_protocol_error);
}

static void a_call_we_could_not_make_fails_without_blaming_the_endpoint(void **state)
{
	struct run_call c = {.rc_end = RUN_CALL_LOCAL_ERROR, .rc_retry_after_ms = -1};
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_string_equal(o.ro_code, "LLM_INVALID_REQUEST");
	assert_false(o.ro_breaker_record);
}

static void aborted_calls_interrupt_or_cancel_and_keep_the_task(void **state)
{
	static const struct {
		enum run_abort abort;
		enum run_outcome_kind kind;
		run_status to;
		const char *code;
	} rows[] = {
		{RUN_ABORT_PAUSED, RUN_OUTCOME_INTERRUPTED, R(INTERRUPTED), "TASK_PAUSED"},
		{RUN_ABORT_CANCELLED, RUN_OUTCOME_CANCELLED, R(CANCELLED), "TASK_CANCELLED"},
		{RUN_ABORT_SHUTDOWN, RUN_OUTCOME_INTERRUPTED, R(INTERRUPTED), "SHUTTING_DOWN"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		/* Whatever the call came to: a pause that raced a 200 still interrupts. */
		struct run_call c = answered(200, "{}");
		struct run_snapshot s = first_call();
		struct run_outcome o;

		c.rc_reply_ok = 1;
		s.rs_abort = rows[i].abort;
		o = decide(&c, &s, 0);
		assert_int_equal(o.ro_kind, rows[i].kind);
		assert_int_equal(o.ro_run_status, rows[i].to);
		assert_string_equal(o.ro_code, rows[i].code);
		assert_true(o.ro_keep_task);
		assert_true(o.ro_breaker_record);
		assert_int_equal(o.ro_breaker, BREAKER_ABANDONED);
		assert_false(o.ro_call_ok);
	}
}

static void a_call_cancelled_without_an_abort_is_the_loop_stopping(void **state)
{
	struct run_call c = {.rc_end = RUN_CALL_CANCELLED, .rc_retry_after_ms = -1};
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_INTERRUPTED);
	assert_string_equal(o.ro_code, "SHUTTING_DOWN");
	assert_true(o.ro_keep_task);
}

static void the_echo_provider_feeds_no_breaker_and_no_alert(void **state)
{
	struct run_call c = {.rc_end = RUN_CALL_TIMEOUT, .rc_retry_after_ms = -1};
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	s.rs_has_breaker = 0;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_RETRY);
	assert_false(o.ro_breaker_record);
	assert_false(o.ro_call_error_alert);
	s.rs_abort = RUN_ABORT_PAUSED;
	assert_false(decide(&c, &s, 0).ro_breaker_record);
}

static void tools_decide_what_follows_them(void **state)
{
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	run_outcome_after_tools(&s, RUN_TOOLS_CONTINUE, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_NEXT_TURN);
	assert_int_equal(o.ro_run_status, R(RUNNING));

	run_outcome_after_tools(&s, RUN_TOOLS_FINISHED, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_SUCCEEDED);
	assert_int_equal(o.ro_run_status, R(SUCCEEDED));

	run_outcome_after_tools(&s, RUN_TOOLS_INPUT_REQUESTED, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_INTERRUPTED);
	assert_string_equal(o.ro_code, "AWAITING_USER_INPUT");
	assert_int_equal(o.ro_task_to, T(BLOCKED));
	assert_false(o.ro_keep_task);

	run_outcome_after_tools(&s, RUN_TOOLS_PERMISSION_DENIED, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_string_equal(o.ro_code, "WORKSPACE_PERMISSION_DENIED");
	assert_int_equal(o.ro_task_to, T(BLOCKED));
}

static void the_last_turn_without_an_end_fails_the_run(void **state)
{
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	s.rs_turn = 7;
	run_outcome_after_tools(&s, RUN_TOOLS_CONTINUE, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_NEXT_TURN);
	s.rs_turn = 8;
	run_outcome_after_tools(&s, RUN_TOOLS_CONTINUE, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_string_equal(o.ro_code, "MAX_TURNS_EXCEEDED");
	/* An end the tools chose wins over the turn count. */
	run_outcome_after_tools(&s, RUN_TOOLS_FINISHED, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_SUCCEEDED);
}

static void a_cut_answer_asks_for_the_rest_while_a_turn_is_left(void **state)
{
	struct run_call c = answered(200, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 1;
	c.rc_truncated = 1;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_NEXT_TURN);
	assert_int_equal(o.ro_run_status, R(RUNNING));
	assert_string_equal(o.ro_code, "");
	assert_true(o.ro_truncated);
	/* The answer itself was fine: the endpoint works and its error alert may go. */
	assert_true(o.ro_call_ok);
	assert_int_equal(o.ro_breaker, BREAKER_SUCCESS);
	s.rs_turn = 7;
	assert_int_equal(decide(&c, &s, 0).ro_kind, RUN_OUTCOME_NEXT_TURN);
}

static void a_cut_answer_on_the_last_turn_fails_the_run_never_succeeds(void **state)
{
	struct run_call c = answered(200, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 1;
	c.rc_truncated = 1;
	s.rs_turn = 8;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_int_equal(o.ro_run_status, R(FAILED));
	assert_string_equal(o.ro_code, "LLM_OUTPUT_TRUNCATED");
	assert_true(o.ro_truncated);
	assert_false(o.ro_exhausted);
	assert_int_equal(o.ro_task_to, 0); /* the usual mapping: failed */
	/* A single-turn run has no turn to continue in. */
	s.rs_turn = 1;
	s.rs_max_turns = 1;
	assert_string_equal(decide(&c, &s, 0).ro_code, "LLM_OUTPUT_TRUNCATED");
}

static void a_cut_answer_with_tool_calls_does_not_ask_for_the_tools(void **state)
{
	struct run_call c = answered(200, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 1;
	c.rc_truncated = 1;
	c.rc_n_tool_calls = 1; /* its arguments may be cut too */
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_NEXT_TURN);
	assert_true(o.ro_truncated);
	s.rs_turn = 8;
	assert_string_equal(decide(&c, &s, 0).ro_code, "LLM_OUTPUT_TRUNCATED");
}

static void a_cut_answer_of_an_aborted_call_is_still_the_abort(void **state)
{
	struct run_call c = answered(200, "{}");
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	c.rc_reply_ok = 1;
	c.rc_truncated = 1;
	s.rs_abort = RUN_ABORT_PAUSED;
	o = decide(&c, &s, 0);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_INTERRUPTED);
	assert_false(o.ro_truncated);
}

static void a_run_starting_again_calls_while_a_turn_is_left(void **state)
{
	struct run_snapshot s = first_call();
	struct run_outcome o;

	(void)state;
	s.rs_turn = 0; /* nothing recorded: the first call */
	run_outcome_on_resume(&s, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_NEXT_TURN);
	s.rs_turn = 7;
	run_outcome_on_resume(&s, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_NEXT_TURN);
	/* Every turn recorded (a crash between the last turn's tools and their record): no call. */
	s.rs_turn = 8;
	run_outcome_on_resume(&s, &o);
	assert_int_equal(o.ro_kind, RUN_OUTCOME_FAILED);
	assert_int_equal(o.ro_run_status, R(FAILED));
	assert_string_equal(o.ro_code, "MAX_TURNS_EXCEEDED");
	assert_false(o.ro_breaker_record);
}

static void kinds_have_names(void **state)
{
	(void)state;
	assert_string_equal(run_outcome_kind_name(RUN_OUTCOME_RETRY), "retry");
	assert_string_equal(run_outcome_kind_name(RUN_OUTCOME_NEXT_TURN), "next_turn");
	assert_string_equal(run_outcome_kind_name((enum run_outcome_kind)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_answer_without_tool_calls_succeeds),
		cmocka_unit_test(an_answer_with_tool_calls_asks_for_the_tools),
		cmocka_unit_test(a_timeout_is_retried_within_the_backoff_and_alerts),
		cmocka_unit_test(a_5xx_is_retried_under_the_breakers_alert_only),
		cmocka_unit_test(retry_after_is_waited_for),
		cmocka_unit_test(retry_after_beyond_the_cap_wins_over_the_cap),
		cmocka_unit_test(a_retry_time_past_the_end_of_time_saturates),
		cmocka_unit_test(attempts_are_capped),
		cmocka_unit_test(a_final_error_fails_at_once_and_proves_the_endpoint_up),
		cmocka_unit_test(a_protocol_error_is_retried_once_per_run),
		cmocka_unit_test(a_call_we_could_not_make_fails_without_blaming_the_endpoint),
		cmocka_unit_test(aborted_calls_interrupt_or_cancel_and_keep_the_task),
		cmocka_unit_test(a_call_cancelled_without_an_abort_is_the_loop_stopping),
		cmocka_unit_test(the_echo_provider_feeds_no_breaker_and_no_alert),
		cmocka_unit_test(tools_decide_what_follows_them),
		cmocka_unit_test(the_last_turn_without_an_end_fails_the_run),
		cmocka_unit_test(a_cut_answer_asks_for_the_rest_while_a_turn_is_left),
		cmocka_unit_test(a_cut_answer_on_the_last_turn_fails_the_run_never_succeeds),
		cmocka_unit_test(a_cut_answer_with_tool_calls_does_not_ask_for_the_tools),
		cmocka_unit_test(a_cut_answer_of_an_aborted_call_is_still_the_abort),
		cmocka_unit_test(a_run_starting_again_calls_while_a_turn_is_left),
		cmocka_unit_test(kinds_have_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
