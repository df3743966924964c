/* common/: redaction, clock parsing and formatting, the arena. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "beebeebrain/v1/agent.pb-c.h"
#include "beebeebrain/v1/events.pb-c.h"

#include "common/arena.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/utf8.h"

/* The redacted form of s (a copy the test frees at once). */
static char redacted[8192];

static const char *red(const char *s)
{
	char *r = redact_dup(s);

	snprintf(redacted, sizeof(redacted), "%s", r);
	free(r);
	return redacted;
}

static int reset_secrets(void **state)
{
	(void)state;
	redact_forget_secrets();
	return 0;
}

static void key_value_secrets_are_redacted(void **state)
{
	(void)state;
	assert_string_equal(red("Authorization: Bearer abc.def-123 and x-api-key: sk-ant-XYZ password=hunter2 ok"),
			    "Authorization: Bearer [REDACTED] and x-api-key: [REDACTED] password=[REDACTED] ok");
	assert_string_equal(red("key sk-proj-abcdef1234 leaked; token=t0k; secret=s"),
			    "key [REDACTED] leaked; token=[REDACTED]; secret=[REDACTED]");
}

static void a_provider_error_body_loses_its_api_key(void **state)
{
	(void)state;
	assert_string_equal(red("LLM_AUTHENTICATION_FAILED after 3 ms (HTTP 401): bad request api_key=abc123 rejected"),
			    "LLM_AUTHENTICATION_FAILED after 3 ms (HTTP 401): bad request api_key=[REDACTED] rejected");
	assert_string_equal(red("GET /v1?api_key=abc123&model=x"), "GET /v1?api_key=[REDACTED]&model=x");
}

static void colon_forms_of_keys_are_redacted(void **state)
{
	(void)state;
	assert_string_equal(red("api_key: x"), "api_key: [REDACTED]");
	assert_string_equal(red("secret: x"), "secret: [REDACTED]");
	assert_string_equal(red("API-KEY:x, next"), "API-KEY:[REDACTED], next");
	assert_string_equal(red("client_secret = 's3 cr3t' end"), "client_secret = '[REDACTED]' end");
	assert_string_equal(red("access_token=abc passwd: p@ss:w0rd! x"),
			    "access_token=[REDACTED] passwd: [REDACTED] x");
}

static void json_secrets_are_redacted_and_the_json_stays_json(void **state)
{
	const char *in = "{\"user\": \"bob\", \"password\": \"x\", \"Authorization\": \"Basic dXNlcjpwYXNz\", "
			 "\"token\": 12345, \"secret\":null, \"note\": \"api_key=abc \\\"q\\\"\"}";
	const char *out;
	json_t *j;

	(void)state;
	out = red(in);
	assert_string_equal(out, "{\"user\": \"bob\", \"password\": \"[REDACTED]\", \"Authorization\": \"Basic "
				 "[REDACTED]\", \"token\": \"[REDACTED]\", \"secret\":null, \"note\": "
				 "\"api_key=[REDACTED] \\\"q\\\"\"}");
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "password")), "[REDACTED]");
	assert_string_equal(json_string_value(json_object_get(j, "user")), "bob");
	json_decref(j);
	assert_string_equal(red("{\"password\": \"with \\\" quote\"}"), "{\"password\": \"[REDACTED]\"}");
}

static void basic_authorization_keeps_its_scheme(void **state)
{
	(void)state;
	assert_string_equal(red("Authorization: Basic dXNlcjpwYXNz"), "Authorization: Basic [REDACTED]");
	assert_string_equal(red("authorization:dXNlcjpwYXNz"), "authorization:[REDACTED]");
	assert_string_equal(red("curl -H 'Authorization: Token abcdef' x"),
			    "curl -H 'Authorization: Token [REDACTED]' x");
	assert_string_equal(red("sent bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"), "sent bearer [REDACTED]");
}

static void cloud_and_forge_tokens_are_redacted_by_shape(void **state)
{
	(void)state;
	assert_string_equal(red("id AKIAIOSFODNN7EXAMPLE and ASIAY34FZKBOKMUTVV7A."), "id [REDACTED] and [REDACTED].");
	assert_string_equal(red("push with ghp_16C7e42F292c6912E7710c838347Ae178B4a now"), "push with [REDACTED] now");
	assert_string_equal(red("(github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv)"), "([REDACTED])");
	assert_string_equal(red("slack xoxb-123456789012-abcdefghij"), "slack [REDACTED]");
	assert_string_equal(red("\"sk-proj-Abc123_def456-ghi\""), "\"[REDACTED]\"");
}

static void configured_values_are_redacted_whatever_their_shape(void **state)
{
	(void)state;
	assert_int_equal(redact_add_secret("Zq7plainKeyValue9"), 1);
	assert_int_equal(redact_add_secret("Zq7plainKeyValue9"), 0); /* known already */
	assert_int_equal(redact_secret_count(), 1);
	assert_string_equal(red("using Zq7plainKeyValue9 now"), "using [REDACTED] now");
	assert_string_equal(red("xZq7plainKeyValue9y|Zq7plainKeyValue9"), "x[REDACTED]y|[REDACTED]");
	assert_string_equal(red("prefix Zq7plainKeyValu only"), "prefix Zq7plainKeyValu only");
	/* The longest of two overlapping values wins. */
	assert_int_equal(redact_add_secret("Zq7plainKeyValue9-and-more"), 1);
	assert_string_equal(red("k=Zq7plainKeyValue9-and-more."), "k=[REDACTED].");
}

static void short_or_bad_configured_values_are_ignored(void **state)
{
	(void)state;
	assert_int_equal(redact_add_secret(NULL), 0);
	assert_int_equal(redact_add_secret(""), 0);
	assert_int_equal(redact_add_secret("ollama"), 0);
	assert_int_equal(redact_add_secret("1234567"), 0);
	assert_int_equal(redact_add_secret("REDACTED"), 0);
	assert_int_equal(redact_add_secret("bad\xff\xfe utf8"), 0);
	assert_int_equal(redact_secret_count(), 0);
	assert_string_equal(red("ollama on 1234567"), "ollama on 1234567");
}

static void ordinary_text_is_untouched(void **state)
{
	const char *keep[] = {
		"task 12 moved from todo to running (risk-assessment)",
		"used 1200 tokens: 700 in, 500 out",
		"max_tokens=100 input_tokens: 5 tokenizer=bpe",
		"the secretary: Bob, the secretariat: Ann",
		"risk-free, desk-top, sk-learn, ask-me-anything",
		"the bearer of bad news",
		"invalid x-api-key",
		"password_hash=abc mytoken=abc secrets=3",
		"AKIA123 is too short; ghp_short",
		"token=[REDACTED] and \"password\": \"[REDACTED]\" stay as they are",
		"{\"secret\": true, \"token\": false}",
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		char *r = redact_alloc(keep[i]);
		assert_int_equal(redact_needed(keep[i]), r != NULL);
		if (r != NULL)
			fail_msg("changed \"%s\" to \"%s\"", keep[i], r);
	}
	assert_null(redact_alloc(NULL));
}

static void redaction_keeps_utf8_valid_and_may_grow(void **state)
{
	char *big, *r;
	size_t n = 0;

	(void)state;
	assert_int_equal(redact_add_secret("\xc3\xa9t\xc3\xa9-key-\xe2\x82\xac\xe2\x82\xac"), 1);
	const char *out = red("\xe2\x82\xac\xe2\x82\xac\xc3\xa9t\xc3\xa9-key-\xe2\x82\xac\xe2\x82\xac\xc3\xbc "
			      "cl\xc3\xa9: token=ab\xe2\x82\xac"
			      "cd fin \xf0\x9f\x94\x91 secret=\xc3\xbc");
	assert_string_equal(out, "\xe2\x82\xac\xe2\x82\xac[REDACTED]\xc3\xbc cl\xc3\xa9: token=[REDACTED] fin "
				 "\xf0\x9f\x94\x91 secret=[REDACTED]");
	assert_true(utf8_valid(out, strlen(out)));
	/* Longer than the input, never cut: 2,000 short secrets. */
	big = malloc(2000 * 8 + 1);
	for (int i = 0; i < 2000; i++)
		n += (size_t)sprintf(big + n, "token=a ");
	r = redact_dup(big);
	assert_int_equal(strlen(r), 2000 * strlen("token=[REDACTED] "));
	assert_null(strstr(r, "=a"));
	free(r);
	free(big);
}

static void redacting_twice_changes_nothing_more(void **state)
{
	const char *in = "Authorization: Basic abc \"password\": 12 ghp_16C7e42F292c6912E7710c838347Ae178B4a";
	char *once = redact_dup(in);

	(void)state;
	assert_null(redact_alloc(once));
	free(once);
}

static void redact_text_copies_only_what_changes(void **state)
{
	struct arena a;
	const char *clean = "nothing to see";

	(void)state;
	arena_init(&a);
	assert_ptr_equal(redact_text(&a, clean), clean);
	assert_string_equal(redact_text(&a, "secret=x"), "secret=[REDACTED]");
	arena_reset(&a);
}

static void every_string_of_a_message_is_redacted(void **state)
{
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__CustomEvent c = BEEBEEBRAIN__V1__CUSTOM_EVENT__INIT;
	Beebeebrain__V1__Agent ag = BEEBEEBRAIN__V1__AGENT__INIT;
	char *tools[] = {"read_file", "token=abc"};
	const char *message = "key sk-proj-abcdef1234";
	struct arena a;

	(void)state;
	arena_init(&a);
	c.actor = "ops";
	c.message = (char *)message;
	c.data_json = "{\"password\": \"x\"}";
	ev.event_type = "operator.note";
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_CUSTOM;
	ev.custom = &c;
	assert_true(redact_message_needed(&ev.base));
	assert_int_equal(redact_message(&a, &ev.base), 2);
	assert_false(redact_message_needed(&ev.base));
	assert_string_equal(c.message, "key [REDACTED]");
	assert_string_equal(c.data_json, "{\"password\": \"[REDACTED]\"}");
	assert_string_equal(message, "key sk-proj-abcdef1234"); /* the old text is not written to */
	assert_string_equal(c.actor, "ops");

	ag.persona_prompt = "password: hunter2";
	ag.enabled_tools = tools;
	ag.n_enabled_tools = 2;
	assert_int_equal(redact_message(&a, &ag.base), 2);
	assert_string_equal(ag.persona_prompt, "password: [REDACTED]");
	assert_string_equal(tools[0], "read_file");
	assert_string_equal(tools[1], "token=[REDACTED]");
	arena_reset(&a);
}

/* Found by fuzz_redact: the value of one marker swallowed the next marker,
 * whose own value then came out in clear. Every rule looks at every
 * position, and the union of what they find goes. */
static void a_marker_inside_a_value_has_its_value_redacted_too(void **state)
{
	(void)state;
	assert_string_equal(red("token=Bearer abc123 secret=x-api-key:def456"),
			    "token=Bearer [REDACTED] secret=[REDACTED]");
	assert_string_equal(red("password= SECRET: q7w3z9k5v2"), "password= [REDACTED] [REDACTED]");
	assert_string_equal(red("Authorization: BiE Bearer q7w3z9k5v2"), "Authorization: BiE [REDACTED] [REDACTED]");
	assert_null(strstr(red("Bearer Authorization: Basic q7w3z9k5v2"), "q7w3"));
	assert_string_equal(red("PASSWORD: secret=q7w3z9k5v2"), "PASSWORD: [REDACTED]");
	assert_int_equal(redact_add_secret("Zq7plainKeyValue9"), 1);
	assert_string_equal(red("Zq7plainKeyValue9token=Bearep"), "[REDACTED]token=[REDACTED]");
	assert_string_equal(red("[REDACTED]token=[REDACTED]"), "[REDACTED]token=[REDACTED]");
}

/* What log_at writes to stderr, captured in a file. */
static char *log_capture(const char *message)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *out = calloc(1, 8192);
	size_t n;

	assert_non_null(f);
	dup2(fileno(f), STDERR_FILENO);
	log_at(LOG_ERROR, "test", NULL, "%s", message);
	dup2(saved, STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(out, 1, 8191, f);
	out[n] = '\0';
	fclose(f);
	return out;
}

static void log_lines_are_redacted_before_they_are_cut(void **state)
{
	char msg[2100], *line;

	(void)state;
	assert_int_equal(redact_add_secret("Zq7plainKeyValue9"), 1);
	line = log_capture("upstream said api_key=abc123, key Zq7plainKeyValue9");
	assert_non_null(strstr(line, "api_key=[REDACTED], key [REDACTED]"));
	assert_null(strstr(line, "abc123"));
	free(line);
	/* A configured value across the 2,047-byte limit: redacted whole, not cut in half. */
	memset(msg, 'x', sizeof(msg));
	memcpy(msg + 2040, "Zq7plainKeyValue9", 17);
	msg[2040 + 17] = '\0';
	line = log_capture(msg);
	assert_null(strstr(line, "Zq7pl"));
	free(line);
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

static void a_recycled_arena_keeps_one_block_and_hands_out_zeroed_memory_again(void **state)
{
	struct arena a;
	uint64_t *p, *q;

	(void)state;
	arena_init(&a);
	p = arena_alloc(&a, 64);
	memset(p, 0xff, 64);
	arena_alloc(&a, 1 << 20); /* a block of its own, freed by the recycle */
	arena_recycle(&a);
	assert_non_null(a.a_head);
	q = arena_alloc(&a, 64);
	assert_ptr_equal(q, p); /* the kept block, from its start */
	assert_int_equal(q[0] | q[7], 0);
	arena_recycle(&a);
	arena_reset(&a);
	assert_null(a.a_head);
	arena_recycle(&a); /* an empty arena stays empty */
	assert_null(a.a_head);
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

/* Under ASan a pointer kept across a recycle, or a read past an allocation,
 * lands on poisoned memory (reported as a use after free would be). */
static void under_asan_what_the_arena_has_not_handed_out_is_poisoned(void **state)
{
	struct arena a;
	char *p, *q;

	(void)state;
	arena_init(&a);
	p = arena_alloc(&a, 32);
	assert_false(__asan_address_is_poisoned(p));
	assert_false(__asan_address_is_poisoned(p + 31));
	assert_true(__asan_address_is_poisoned(p + 32)); /* not handed out yet */
	arena_recycle(&a);
	assert_true(__asan_address_is_poisoned(p));
	q = arena_alloc(&a, 16);
	assert_ptr_equal(q, p);
	assert_false(__asan_address_is_poisoned(q + 15));
	assert_true(__asan_address_is_poisoned(p + 16));
	arena_reset(&a);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#if defined(__SANITIZE_ADDRESS__)
		cmocka_unit_test(under_asan_what_the_arena_has_not_handed_out_is_poisoned),
#endif
		cmocka_unit_test_setup(key_value_secrets_are_redacted, reset_secrets),
		cmocka_unit_test_setup(a_provider_error_body_loses_its_api_key, reset_secrets),
		cmocka_unit_test_setup(colon_forms_of_keys_are_redacted, reset_secrets),
		cmocka_unit_test_setup(json_secrets_are_redacted_and_the_json_stays_json, reset_secrets),
		cmocka_unit_test_setup(basic_authorization_keeps_its_scheme, reset_secrets),
		cmocka_unit_test_setup(cloud_and_forge_tokens_are_redacted_by_shape, reset_secrets),
		cmocka_unit_test_setup(configured_values_are_redacted_whatever_their_shape, reset_secrets),
		cmocka_unit_test_setup(short_or_bad_configured_values_are_ignored, reset_secrets),
		cmocka_unit_test_setup(ordinary_text_is_untouched, reset_secrets),
		cmocka_unit_test_setup(redaction_keeps_utf8_valid_and_may_grow, reset_secrets),
		cmocka_unit_test_setup(redacting_twice_changes_nothing_more, reset_secrets),
		cmocka_unit_test_setup(redact_text_copies_only_what_changes, reset_secrets),
		cmocka_unit_test_setup(every_string_of_a_message_is_redacted, reset_secrets),
		cmocka_unit_test_setup(a_marker_inside_a_value_has_its_value_redacted_too, reset_secrets),
		cmocka_unit_test_setup(log_lines_are_redacted_before_they_are_cut, reset_secrets),
		cmocka_unit_test(rfc3339_round_trips_in_utc),
		cmocka_unit_test(malformed_times_are_refused),
		cmocka_unit_test(arena_memory_is_zeroed_aligned_and_large_blocks_work),
		cmocka_unit_test(a_recycled_arena_keeps_one_block_and_hands_out_zeroed_memory_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
