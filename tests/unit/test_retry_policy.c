/* domain/retry_policy: the classification table of docs/runtime.md, full-jitter bounds, Retry-After, attempt caps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "domain/retry_policy.h"

static struct retry_class classify(enum retry_transport tr, int status, const char *body, int body_ok)
{
	struct retry_attempt a = {
		.ra_transport = tr,
		.ra_http_status = status,
		.ra_body = body,
		.ra_body_len = body != NULL ? strlen(body) : 0,
		.ra_body_ok = body_ok,
	};
	struct retry_class c;

	retry_classify(&a, &c);
	return c;
}

static void classification_follows_the_spec_table(void **state)
{
	static const struct {
		enum retry_transport tr;
		int status;
		const char *body;
		int body_ok;
		const char *code;
		enum retry_verdict verdict;
	} rows[] = {
		{RETRY_TRANSPORT_TIMEOUT, 0, NULL, 0, "LLM_TIMEOUT", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_CONNECTION_FAILED, 0, NULL, 0, "LLM_CONNECTION_FAILED", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 200, "{}", 1, NULL, RETRY_SUCCESS},
		{RETRY_TRANSPORT_OK, 201, "{}", 1, NULL, RETRY_SUCCESS},
		{RETRY_TRANSPORT_OK, 429, "{}", 1, "LLM_RATE_LIMITED", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 500, "", 0, "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 502, "", 0, "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 503, "", 0, "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 529, "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}", 1,
		 "LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 401, "{}", 1, "LLM_AUTHENTICATION_FAILED", RETRY_FINAL},
		{RETRY_TRANSPORT_OK, 403, "{}", 1, "LLM_AUTHENTICATION_FAILED", RETRY_FINAL},
		{RETRY_TRANSPORT_OK, 400, "{\"error\":{\"message\":\"bad field\"}}", 1, "LLM_INVALID_REQUEST",
		 RETRY_FINAL},
		{RETRY_TRANSPORT_OK, 404, "{}", 1, "LLM_INVALID_REQUEST", RETRY_FINAL},
		{RETRY_TRANSPORT_OK, 422, "{}", 1, "LLM_INVALID_REQUEST", RETRY_FINAL},
		{RETRY_TRANSPORT_OK, 408, "", 0, "LLM_TIMEOUT", RETRY_RETRYABLE},
		{RETRY_TRANSPORT_OK, 200, "{\"id\": \"x\", \"cont", 0, "LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE},
		{RETRY_TRANSPORT_OK, 302, "", 0, "LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct retry_class c = classify(rows[i].tr, rows[i].status, rows[i].body, rows[i].body_ok);

		if (rows[i].code == NULL)
			assert_null(c.rc_code);
		else if (c.rc_code == NULL || strcmp(c.rc_code, rows[i].code) != 0)
			fail_msg("row %zu (status %d): got %s, want %s", i, rows[i].status,
				 c.rc_code != NULL ? c.rc_code : "(success)", rows[i].code);
		if (c.rc_verdict != rows[i].verdict)
			fail_msg("row %zu (status %d): verdict %d, want %d", i, rows[i].status, c.rc_verdict,
				 rows[i].verdict);
	}
}

static void context_overflow_bodies_are_final_context_errors(void **state)
{
	static const char *const bodies[] = {
		"{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long: "
		"215000 tokens > 200000 maximum\"}}",
		"{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens. However, your messages "
		"resulted in 9000 tokens.\",\"type\":\"invalid_request_error\",\"code\":\"context_length_exceeded\"}}",
		"{\"error\":{\"message\":\"the request exceeds the available context size, try increasing it\","
		"\"type\":\"exceed_context_size_error\"}}",
		"{\"error\":{\"message\":\"input length and `max_tokens` exceed context limit: 198000 + 8192 > "
		"200000\"}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct retry_class c = classify(RETRY_TRANSPORT_OK, 400, bodies[i], 1);

		assert_string_equal(c.rc_code, "LLM_CONTEXT_LIMIT_EXCEEDED");
		assert_int_equal(c.rc_verdict, RETRY_FINAL);
	}
	/* The same words on a 5xx are still an outage, and a 401 is still about the key. */
	assert_string_equal(classify(RETRY_TRANSPORT_OK, 503, bodies[0], 1).rc_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_string_equal(classify(RETRY_TRANSPORT_OK, 401, bodies[1], 1).rc_code, "LLM_AUTHENTICATION_FAILED");
}

static void context_detection_is_case_insensitive_and_bounded_by_len(void **state)
{
	const char body[] = "PROMPT IS TOO LONG";

	(void)state;
	assert_true(retry_is_context_overflow(body, strlen(body)));
	/* Only the first len bytes count: the phrase is cut off. */
	assert_false(retry_is_context_overflow(body, 10));
	assert_false(retry_is_context_overflow(NULL, 0));
	assert_false(retry_is_context_overflow("{\"error\":\"invalid model\"}", 25));
}

static void full_jitter_stays_within_the_doubling_cap(void **state)
{
	const struct retry_policy p = RETRY_POLICY_DEFAULT;
	uint64_t rng = 42;

	(void)state;
	for (int n = 1; n <= 12; n++) {
		int64_t cap = 2000LL << (n - 1);
		int64_t lo = INT64_MAX, hi = -1;

		if (cap > 300000)
			cap = 300000;
		for (int i = 0; i < 2000; i++) {
			int64_t d = retry_backoff_ms(&p, n, retry_splitmix64(&rng), -1);

			assert_true(d >= 0);
			assert_true(d <= cap);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		/* Full jitter: the draws spread over the whole [0, cap], not a band near the cap. */
		assert_true(lo < cap / 10);
		assert_true(hi > cap - cap / 10);
	}
}

static void jitter_extremes_hit_zero_and_the_cap(void **state)
{
	const struct retry_policy p = RETRY_POLICY_DEFAULT;

	(void)state;
	assert_int_equal(retry_backoff_ms(&p, 1, 0, -1), 0);
	assert_int_equal(retry_backoff_ms(&p, 1, 2000, -1), 2000); /* rnd mod (cap + 1) */
	assert_int_equal(retry_backoff_ms(&p, 3, 8000, -1), 8000);
	assert_int_equal(retry_backoff_ms(&p, 3, 8001, -1), 0);
	assert_int_equal(retry_backoff_ms(&p, 60, UINT64_MAX, -1) <= 300000, 1);
	assert_int_equal(retry_backoff_ms(&p, 1000, 300000, -1), 300000);
}

static void retry_after_is_a_floor_even_above_max(void **state)
{
	const struct retry_policy p = RETRY_POLICY_DEFAULT;

	(void)state;
	assert_int_equal(retry_backoff_ms(&p, 1, 0, 7000), 7000);
	assert_int_equal(retry_backoff_ms(&p, 1, 1500, 1000), 1500); /* jitter above the floor is kept */
	assert_int_equal(retry_backoff_ms(&p, 9, 0, 600000), 600000); /* the provider's word wins over max */
}

static void decide(const struct retry_class *c, int attempt, int protocol_errors, int64_t retry_after,
		   struct retry_decision *d)
{
	const struct retry_policy p = RETRY_POLICY_DEFAULT;
	const struct retry_state s = {attempt, protocol_errors, retry_after};

	retry_decide(&p, c, &s, 12345, d);
}

static void retryable_errors_stop_after_four_attempts(void **state)
{
	const struct retry_class c = {"LLM_PROVIDER_UNAVAILABLE", RETRY_RETRYABLE};
	struct retry_decision d;

	(void)state;
	for (int attempt = 1; attempt <= 3; attempt++) {
		decide(&c, attempt, 0, -1, &d);
		assert_true(d.rd_retry);
		assert_false(d.rd_exhausted);
		assert_string_equal(d.rd_code, "LLM_PROVIDER_UNAVAILABLE");
	}
	decide(&c, 4, 0, -1, &d);
	assert_false(d.rd_retry);
	assert_true(d.rd_exhausted);
	assert_string_equal(d.rd_code, "LLM_PROVIDER_UNAVAILABLE");
}

static void attempt_cap_comes_from_the_policy(void **state)
{
	const struct retry_policy p = {.rp_max_attempts = 2, .rp_base_ms = 100, .rp_max_ms = 1000};
	const struct retry_class c = {"LLM_TIMEOUT", RETRY_RETRYABLE};
	struct retry_state s = {1, 0, -1};
	struct retry_decision d;

	(void)state;
	retry_decide(&p, &c, &s, 7, &d);
	assert_true(d.rd_retry);
	assert_true(d.rd_delay_ms <= 100);
	s.rs_attempt = 2;
	retry_decide(&p, &c, &s, 7, &d);
	assert_false(d.rd_retry);
	assert_true(d.rd_exhausted);
}

static void final_errors_and_success_are_never_retried(void **state)
{
	const struct retry_class fin = {"LLM_AUTHENTICATION_FAILED", RETRY_FINAL};
	const struct retry_class ok = {NULL, RETRY_SUCCESS};
	struct retry_decision d;

	(void)state;
	decide(&fin, 1, 0, -1, &d);
	assert_false(d.rd_retry);
	assert_false(d.rd_exhausted);
	assert_string_equal(d.rd_code, "LLM_AUTHENTICATION_FAILED");
	decide(&ok, 1, 0, -1, &d);
	assert_false(d.rd_retry);
	assert_null(d.rd_code);
}

static void protocol_errors_are_retried_once(void **state)
{
	const struct retry_class c = {"LLM_PROTOCOL_ERROR", RETRY_RETRYABLE_ONCE};
	struct retry_decision d;

	(void)state;
	decide(&c, 1, 1, -1, &d);
	assert_true(d.rd_retry);
	/* A second bad body, even with attempts left, is final. */
	decide(&c, 2, 2, -1, &d);
	assert_false(d.rd_retry);
	assert_false(d.rd_exhausted);
	/* The count of protocol errors decides, not the attempt number. */
	decide(&c, 3, 1, -1, &d);
	assert_true(d.rd_retry);
}

static void rate_limit_decision_honours_retry_after(void **state)
{
	const struct retry_class c = {"LLM_RATE_LIMITED", RETRY_RETRYABLE};
	struct retry_decision d;

	(void)state;
	decide(&c, 1, 0, 30000, &d);
	assert_true(d.rd_retry);
	assert_true(d.rd_delay_ms >= 30000);
}

static void same_random_word_gives_the_same_delay(void **state)
{
	const struct retry_policy p = RETRY_POLICY_DEFAULT;

	(void)state;
	assert_int_equal(retry_backoff_ms(&p, 3, 0xdeadbeefULL, -1), retry_backoff_ms(&p, 3, 0xdeadbeefULL, -1));
}

static void retry_after_parses_seconds(void **state)
{
	int64_t ms = -1;

	(void)state;
	assert_int_equal(retry_parse_retry_after("120", 0, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(retry_parse_retry_after("  7 ", 0, &ms), 0);
	assert_int_equal(ms, 7000);
	assert_int_equal(retry_parse_retry_after("0", 0, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(retry_parse_retry_after("1.5", 0, &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(retry_parse_retry_after("0.0001", 0, &ms), 0);
	assert_int_equal(ms, 1); /* rounded up, never early */
}

static void retry_after_parses_http_dates_against_now(void **state)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 s since the epoch. */
	const int64_t at = 1445412480LL * 1000;
	int64_t ms = -1;

	(void)state;
	assert_int_equal(retry_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at - 90000, &ms), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(retry_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at + 5000, &ms), 0);
	assert_int_equal(ms, 0); /* in the past: go now */
	assert_int_equal(retry_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777LL * 1000, &ms), 0);
	assert_int_equal(ms, 0);
	assert_int_equal(retry_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777LL * 1000 - 1, &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(retry_parse_retry_after("Thu, 29 Feb 2024 23:59:59 GMT", 1709251199LL * 1000 - 2000, &ms), 0);
	assert_int_equal(ms, 2000);
}

static void retry_after_rejects_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"soon",
		"-5",
		"12abc",
		"Wed, 21 Oct 2015 07:28:00",
		"Wed, 21 Foo 2015 07:28:00 GMT",
		"Wed, 21 Oct 2015 7:28:00 GMT",
		"Wed, 32 Oct 2015 07:28:00 GMT",
		"1.2.3",
	};
	int64_t ms = 77;

	(void)state;
	assert_int_equal(retry_parse_retry_after(NULL, 0, &ms), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (retry_parse_retry_after(bad[i], 0, &ms) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	assert_int_equal(ms, 77); /* untouched on failure */
}

static void splitmix_is_deterministic_per_seed(void **state)
{
	uint64_t a = 1, b = 1, c = 2;

	(void)state;
	assert_true(retry_splitmix64(&a) == retry_splitmix64(&b));
	assert_true(retry_splitmix64(&a) != retry_splitmix64(&c));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(classification_follows_the_spec_table),
		cmocka_unit_test(context_overflow_bodies_are_final_context_errors),
		cmocka_unit_test(context_detection_is_case_insensitive_and_bounded_by_len),
		cmocka_unit_test(full_jitter_stays_within_the_doubling_cap),
		cmocka_unit_test(jitter_extremes_hit_zero_and_the_cap),
		cmocka_unit_test(retry_after_is_a_floor_even_above_max),
		cmocka_unit_test(retryable_errors_stop_after_four_attempts),
		cmocka_unit_test(attempt_cap_comes_from_the_policy),
		cmocka_unit_test(final_errors_and_success_are_never_retried),
		cmocka_unit_test(protocol_errors_are_retried_once),
		cmocka_unit_test(rate_limit_decision_honours_retry_after),
		cmocka_unit_test(same_random_word_gives_the_same_delay),
		cmocka_unit_test(retry_after_parses_seconds),
		cmocka_unit_test(retry_after_parses_http_dates_against_now),
		cmocka_unit_test(retry_after_rejects_garbage),
		cmocka_unit_test(splitmix_is_deterministic_per_seed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
