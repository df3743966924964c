/*
 * The HTTP loop and the providers against a real HTTP server: fake_llm.py on
 * loopback (tests/fake_llm), scripted per test. Covered: a successful call of
 * each API with its headers and body checked on the server side, a timeout,
 * 429 with Retry-After, 503, an outage window (529), a malformed body, a dropped connection and a
 * closed port, cancel of an in-flight call, stop with calls in flight, a
 * submit from inside a callback, and 200 concurrent calls on the loop's one
 * thread. Each outcome also goes through domain/retry_policy, the way the
 * dispatcher will use them together (see classify() below).
 *
 * Waiting for callbacks has a generous guard (a hang fails the test instead
 * of stalling ctest); no assertion depends on timing.
 *
 * Given the beebeebrain binary as argv[1] like every C integration test; it
 * is not needed here. fake_llm_proc.c is included directly: the test glob
 * compiles one file per test (plus harness.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../fake_llm/fake_llm_proc.c"
#include "common/status.h"
#include "domain/retry_policy.h"
#include "harness.h"
#include "runtime/http_loop.h"
#include "runtime/provider.h"

#define GUARD_MS 60000
#define CONCURRENT 200

static struct fake_llm fake;
static struct http_loop *loop;

/* What one callback saw, copied out of the loop's buffers. */
struct outcome {
	int o_calls; /* callbacks run for this call: must end at 1 */
	enum http_outcome o_outcome;
	long o_status;
	char *o_body;
	size_t o_len;
	char *o_retry_after;
	pthread_t o_thread;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void on_done(const struct http_response *r, void *arg)
{
	struct outcome *o = arg;

	pthread_mutex_lock(&mu);
	o->o_calls++;
	o->o_outcome = r->outcome;
	o->o_status = r->status;
	free(o->o_body);
	o->o_body = malloc(r->body_len + 1);
	memcpy(o->o_body, r->body, r->body_len + 1);
	o->o_len = r->body_len;
	free(o->o_retry_after);
	o->o_retry_after = r->retry_after != NULL ? strdup(r->retry_after) : NULL;
	o->o_thread = pthread_self();
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void outcome_free(struct outcome *o, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(o[i].o_body);
		free(o[i].o_retry_after);
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int threads_now(void)
{
	char line[256];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return n;
}

/* Waits until each of o[0..n) has been called back; samples the thread
 * count meanwhile into *max_threads (may be NULL). 0, or -1 after GUARD_MS. */
static int wait_all(struct outcome *o, size_t n, int *max_threads)
{
	int64_t give_up = now_ms() + GUARD_MS;
	size_t done = 0;

	pthread_mutex_lock(&mu);
	for (;;) {
		struct timespec ts;

		for (done = 0; done < n && o[done].o_calls > 0;)
			done++;
		if (done == n || now_ms() > give_up)
			break;
		if (max_threads != NULL) {
			int t = threads_now();

			*max_threads = t > *max_threads ? t : *max_threads;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&cv, &mu, &ts);
	}
	pthread_mutex_unlock(&mu);
	return done == n ? 0 : -1;
}

/* The dispatcher's view of one attempt: loop outcome + parse -> classification. */
static struct retry_class classify(const struct outcome *o, int body_ok)
{
	struct retry_attempt a = {
		.ra_transport = RETRY_TRANSPORT_OK,
		.ra_http_status = (int)o->o_status,
		.ra_body = o->o_body,
		.ra_body_len = o->o_len,
		.ra_body_ok = body_ok,
	};
	struct retry_class c;

	if (o->o_outcome == HTTP_OUTCOME_TIMEOUT)
		a.ra_transport = RETRY_TRANSPORT_TIMEOUT;
	else if (o->o_outcome == HTTP_OUTCOME_CONNECTION_FAILED)
		a.ra_transport = RETRY_TRANSPORT_CONNECTION_FAILED;
	else if (o->o_outcome == HTTP_OUTCOME_TOO_LARGE)
		a.ra_body_ok = 0; /* a cut body is a bad body */
	retry_classify(&a, &c);
	return c;
}

static void script(const char *json)
{
	assert_int_equal(fake_llm_post(&fake, "/_script", json, NULL), 200);
}

/* GET /_stats as JSON (caller decrefs). */
static json_t *stats(void)
{
	char *text = NULL;
	json_t *v;

	assert_int_equal(fake_llm_get(&fake, "/_stats", &text), 200);
	v = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(v);
	return v;
}

static int requests_received(void)
{
	json_t *s = stats();
	int n = (int)json_array_size(json_object_get(s, "requests"));

	json_decref(s);
	return n;
}

static int fresh_connections; /* set by a test that needs them */

/* Builds the provider request for one user message and submits it. */
static uint64_t submit_chat(const struct provider_ops *p, const char *base, const char *text, long timeout_ms,
			    struct outcome *o)
{
	const struct provider_endpoint ep = {base, "test-key"};
	struct provider_request req = {"test-model", 256, NULL, NULL, 0, PROVIDER_TOKEN_PARAM_AUTO};
	struct http_request hr = {0};
	struct provider_http_request http;
	struct provider_conv c;
	bbb_status st;
	uint64_t id;

	provider_conv_init(&c);
	provider_conv_add_user(&c, text, &st);
	req.pr_conv = &c;
	assert_int_equal(p->p_build(&ep, &req, &http, &st), 0);
	hr.url = http.hr_url;
	hr.headers = (const char *const *)http.hr_headers;
	hr.n_headers = http.hr_n_headers;
	hr.body = http.hr_body;
	hr.body_len = http.hr_body_len;
	hr.timeout_ms = timeout_ms;
	hr.fresh_connection = fresh_connections;
	id = http_loop_submit(loop, &hr, on_done, o, &st);
	if (id == 0)
		fail_msg("submit: %s %s", st.reason, st.message);
	/* Everything was copied by submit: freed before the call even starts. */
	provider_http_request_free(&http);
	provider_conv_free(&c);
	return id;
}

static char openai_base[96];

static int group_setup(void **state)
{
	bbb_status st;

	(void)state;
	if (fake_llm_start(&fake, NULL) != 0)
		return -1;
	snprintf(openai_base, sizeof(openai_base), "%s/v1", fake.fl_base_url);
	if (http_loop_start(NULL, &loop, &st) != 0) {
		fprintf(stderr, "http_loop_start: %s\n", st.message);
		fake_llm_stop(&fake);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	http_loop_stop(loop);
	fake_llm_stop(&fake);
	return 0;
}

static int reset_fake(void **state)
{
	(void)state;
	return fake_llm_post(&fake, "/_reset", "{}", NULL) == 200 ? 0 : -1;
}

static void anthropic_call_succeeds_with_the_right_headers(void **state)
{
	struct outcome o = {0};
	struct provider_reply r;
	struct retry_class c;
	json_t *s, *req, *hdr;
	bbb_status st;

	(void)state;
	submit_chat(&provider_anthropic, fake.fl_base_url, "hello there", 10000, &o);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_calls, 1);
	assert_int_equal(o.o_outcome, HTTP_OUTCOME_OK);
	assert_int_equal(o.o_status, 200);
	assert_false(pthread_equal(o.o_thread, pthread_self())); /* called back on the loop thread */
	assert_int_equal(provider_anthropic.p_parse(o.o_body, o.o_len, &r, &st), 0);
	assert_string_equal(r.r_text, "fake reply: hello there");
	assert_int_equal(r.r_tokens_in, 10);
	assert_int_equal(r.r_tokens_out, 3);
	c = classify(&o, 1);
	assert_null(c.rc_code);
	provider_reply_free(&r);

	s = stats();
	req = json_array_get(json_object_get(s, "requests"), 0);
	hdr = json_object_get(req, "headers");
	assert_string_equal(json_string_value(json_object_get(req, "path")), "/v1/messages");
	assert_string_equal(json_string_value(json_object_get(hdr, "x-api-key")), "test-key");
	assert_string_equal(json_string_value(json_object_get(hdr, "anthropic-version")), "2023-06-01");
	assert_string_equal(json_string_value(json_object_get(hdr, "content-type")), "application/json");
	assert_null(json_object_get(hdr, "expect"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(req, "body"), "model")), "test-model");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(req, "body"), "max_tokens")), 256);
	json_decref(s);
	outcome_free(&o, 1);
}

static void openai_tool_call_comes_back_parsed(void **state)
{
	struct outcome o = {0};
	struct provider_reply r;
	json_t *s, *hdr;
	bbb_status st;

	(void)state;
	script("{\"openai\": [{\"tool_calls\": [{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"}}],"
	       " \"tokens\": {\"in\": 50, \"out\": 7}}]}");
	submit_chat(&provider_openai, openai_base, "read it", 10000, &o);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_status, 200);
	assert_int_equal(provider_openai.p_parse(o.o_body, o.o_len, &r, &st), 0);
	assert_int_equal(r.r_n_calls, 1);
	assert_string_equal(r.r_calls[0].tc_name, "read_file");
	assert_string_equal(r.r_calls[0].tc_arguments, "{\"path\": \"a.txt\"}");
	assert_int_equal(r.r_stop, PROVIDER_STOP_TOOL_USE);
	assert_int_equal(r.r_tokens_in, 50);
	assert_int_equal(r.r_tokens_out, 7);
	provider_reply_free(&r);
	s = stats();
	hdr = json_object_get(json_array_get(json_object_get(s, "requests"), 0), "headers");
	assert_string_equal(json_string_value(json_object_get(hdr, "authorization")), "Bearer test-key");
	assert_string_equal(
		json_string_value(json_object_get(json_array_get(json_object_get(s, "requests"), 0), "path")),
		"/v1/chat/completions");
	json_decref(s);
	outcome_free(&o, 1);
}

static void slow_answer_times_out(void **state)
{
	struct outcome o = {0};
	struct retry_class c;

	(void)state;
	script("[{\"delay_ms\": 3000}]");
	submit_chat(&provider_anthropic, fake.fl_base_url, "slow", 300, &o);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_outcome, HTTP_OUTCOME_TIMEOUT);
	assert_int_equal(o.o_status, 0);
	c = classify(&o, 0);
	assert_string_equal(c.rc_code, "LLM_TIMEOUT");
	assert_int_equal(c.rc_verdict, RETRY_RETRYABLE);
	outcome_free(&o, 1);
}

static void rate_limit_reports_retry_after(void **state)
{
	const struct retry_policy p = RETRY_POLICY_DEFAULT;
	struct outcome o = {0};
	struct retry_decision d;
	struct retry_state rs = {1, 0, -1};
	struct retry_class c;
	char msg[128];

	(void)state;
	script("[{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}, \"error\": \"slow down\"}]");
	submit_chat(&provider_anthropic, fake.fl_base_url, "hi", 10000, &o);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_outcome, HTTP_OUTCOME_OK);
	assert_int_equal(o.o_status, 429);
	assert_non_null(o.o_retry_after);
	assert_string_equal(o.o_retry_after, "7");
	assert_int_equal(retry_parse_retry_after(o.o_retry_after, 0, &rs.rs_retry_after_ms), 0);
	assert_int_equal(rs.rs_retry_after_ms, 7000);
	c = classify(&o, 1);
	assert_string_equal(c.rc_code, "LLM_RATE_LIMITED");
	retry_decide(&p, &c, &rs, 0, &d);
	assert_true(d.rd_retry);
	assert_true(d.rd_delay_ms >= 7000);
	assert_int_equal(provider_error_message(o.o_body, o.o_len, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "slow down");
	outcome_free(&o, 1);
}

static void service_unavailable_is_retryable(void **state)
{
	struct outcome o = {0};
	struct retry_class c;

	(void)state;
	script("[{\"status\": 503}]");
	submit_chat(&provider_openai, openai_base, "hi", 10000, &o);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_status, 503);
	assert_null(o.o_retry_after);
	c = classify(&o, 0);
	assert_string_equal(c.rc_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_int_equal(c.rc_verdict, RETRY_RETRYABLE);
	outcome_free(&o, 1);
}

static void outage_window_answers_every_call_until_cleared(void **state)
{
	struct outcome o[3] = {{0}};

	(void)state;
	/* What a breaker drill does: the provider is down for a while. */
	assert_int_equal(fake_llm_post(&fake, "/_mode", "{\"status\": 529, \"duration_ms\": 600000}", NULL), 200);
	submit_chat(&provider_anthropic, fake.fl_base_url, "one", 10000, &o[0]);
	submit_chat(&provider_openai, openai_base, "two", 10000, &o[1]);
	assert_int_equal(wait_all(o, 2, NULL), 0);
	assert_int_equal(o[0].o_status, 529);
	assert_int_equal(o[1].o_status, 529);
	assert_string_equal(classify(&o[0], 1).rc_code, "LLM_PROVIDER_UNAVAILABLE");
	assert_int_equal(fake_llm_post(&fake, "/_mode", "{\"status\": 0}", NULL), 200);
	submit_chat(&provider_anthropic, fake.fl_base_url, "three", 10000, &o[2]);
	assert_int_equal(wait_all(&o[2], 1, NULL), 0);
	assert_int_equal(o[2].o_status, 200);
	outcome_free(o, 3);
}

static void malformed_body_is_a_protocol_error(void **state)
{
	struct outcome o = {0};
	struct provider_reply r;
	struct retry_class c;
	bbb_status st;

	(void)state;
	script("[{\"malformed\": true}]");
	submit_chat(&provider_anthropic, fake.fl_base_url, "hi", 10000, &o);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_status, 200);
	assert_int_equal(provider_anthropic.p_parse(o.o_body, o.o_len, &r, &st), -1);
	assert_string_equal(st.reason, "LLM_PROTOCOL_ERROR");
	c = classify(&o, 0);
	assert_string_equal(c.rc_code, "LLM_PROTOCOL_ERROR");
	assert_int_equal(c.rc_verdict, RETRY_RETRYABLE_ONCE);
	outcome_free(&o, 1);
}

static void dropped_connection_and_closed_port_are_connection_failures(void **state)
{
	struct outcome o[2] = {{0}};
	char closed[64];

	(void)state;
	script("[{\"close\": true}]");
	/* A new connection: on a reused one libcurl would re-send once (http_loop.h). */
	fresh_connections = 1;
	submit_chat(&provider_anthropic, fake.fl_base_url, "hi", 10000, &o[0]);
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%d", harness_free_port());
	submit_chat(&provider_anthropic, closed, "hi", 10000, &o[1]);
	fresh_connections = 0;
	assert_int_equal(wait_all(o, 2, NULL), 0);
	assert_int_equal(requests_received(), 1); /* no second delivery */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(o[i].o_outcome, HTTP_OUTCOME_CONNECTION_FAILED);
		assert_string_equal(classify(&o[i], 0).rc_code, "LLM_CONNECTION_FAILED");
	}
	outcome_free(o, 2);
}

static void cancel_aborts_an_in_flight_call_once(void **state)
{
	struct outcome o = {0};
	int64_t give_up = now_ms() + GUARD_MS;
	uint64_t id;

	(void)state;
	script("[{\"delay_ms\": 30000}]");
	id = submit_chat(&provider_anthropic, fake.fl_base_url, "long", 60000, &o);
	/* In flight for sure: the server has the request. */
	while (requests_received() < 1 && now_ms() < give_up)
		nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
	assert_int_equal(requests_received(), 1);
	http_loop_cancel(loop, id);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_outcome, HTTP_OUTCOME_CANCELLED);
	assert_int_equal(o.o_status, 0);
	/* A second cancel, and one of an id that never existed, change nothing. */
	http_loop_cancel(loop, id);
	http_loop_cancel(loop, 999999);
	{
		struct outcome probe = {0};

		submit_chat(&provider_anthropic, fake.fl_base_url, "after", 10000, &probe);
		assert_int_equal(wait_all(&probe, 1, NULL), 0); /* the loop turned at least once more */
		outcome_free(&probe, 1);
	}
	pthread_mutex_lock(&mu);
	assert_int_equal(o.o_calls, 1);
	pthread_mutex_unlock(&mu);
	outcome_free(&o, 1);
}

struct chain {
	struct outcome c_first;
	struct outcome c_second;
	struct http_request c_req; /* a valid Messages request: the fake refuses any other */
};

static void on_first_done(const struct http_response *r, void *arg)
{
	struct chain *ch = arg;
	struct http_request hr = ch->c_req;
	bbb_status st;

	/* What a dispatcher does on a retry: submit again from the callback. */
	if (http_loop_submit(loop, &hr, on_done, &ch->c_second, &st) == 0)
		ch->c_second.o_calls = -1;
	on_done(r, &ch->c_first);
}

static void callbacks_may_submit_the_next_call(void **state)
{
	const struct provider_endpoint ep = {fake.fl_base_url, "test-key"};
	struct provider_request req = {.pr_model = "test-model", .pr_max_tokens = 256};
	struct provider_http_request http;
	struct provider_conv c;
	struct chain ch = {0};
	bbb_status st;

	(void)state;
	provider_conv_init(&c);
	provider_conv_add_user(&c, "chained", &st);
	req.pr_conv = &c;
	assert_int_equal(provider_anthropic.p_build(&ep, &req, &http, &st), 0);
	ch.c_req = (struct http_request){.url = http.hr_url,
					 .headers = (const char *const *)http.hr_headers,
					 .n_headers = http.hr_n_headers,
					 .body = http.hr_body,
					 .body_len = http.hr_body_len,
					 .timeout_ms = 10000};
	assert_int_not_equal(http_loop_submit(loop, &ch.c_req, on_first_done, &ch, &st), 0);
	assert_int_equal(wait_all(&ch.c_first, 1, NULL), 0);
	assert_int_equal(wait_all(&ch.c_second, 1, NULL), 0);
	assert_int_equal(ch.c_first.o_status, 200);
	assert_int_equal(ch.c_second.o_status, 200);
	assert_int_equal(requests_received(), 2);
	outcome_free(&ch.c_first, 1);
	outcome_free(&ch.c_second, 1);
	provider_http_request_free(&http);
	provider_conv_free(&c);
}

static void stop_calls_back_every_call_left_as_cancelled(void **state)
{
	struct outcome o[5] = {{0}};
	struct http_loop *saved = loop;
	int64_t give_up = now_ms() + GUARD_MS;
	bbb_status st;

	(void)state;
	assert_int_equal(http_loop_start(NULL, &loop, &st), 0);
	assert_int_equal(fake_llm_post(&fake, "/_mode", "{\"status\": 200, \"delay_ms\": 30000}", NULL), 200);
	for (int i = 0; i < 5; i++)
		submit_chat(&provider_anthropic, fake.fl_base_url, "wait", 60000, &o[i]);
	while (requests_received() < 5 && now_ms() < give_up)
		nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
	assert_int_equal(http_loop_pending(loop), 5);
	assert_int_equal(http_loop_stop(loop), 0);
	/* stop returned: every callback has already run, once, as cancelled. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(o[i].o_calls, 1);
		assert_int_equal(o[i].o_outcome, HTTP_OUTCOME_CANCELLED);
	}
	loop = saved;
	outcome_free(o, 5);
}

static void two_hundred_concurrent_calls_complete_on_one_thread(void **state)
{
	struct outcome *o = calloc(CONCURRENT, sizeof(*o));
	int before = threads_now(), peak = before;
	json_t *s;

	(void)state;
	/* Every answer waits 200 ms: all calls are in flight together. */
	assert_int_equal(fake_llm_post(&fake, "/_mode", "{\"status\": 200, \"delay_ms\": 200}", NULL), 200);
	for (int i = 0; i < CONCURRENT; i++)
		submit_chat(i % 2 ? &provider_openai : &provider_anthropic, i % 2 ? openai_base : fake.fl_base_url,
			    "many", 30000, &o[i]);
	assert_int_equal(wait_all(o, CONCURRENT, &peak), 0);
	for (int i = 0; i < CONCURRENT; i++) {
		if (o[i].o_calls != 1 || o[i].o_outcome != HTTP_OUTCOME_OK || o[i].o_status != 200)
			fail_msg("call %d: %d callbacks, outcome %s, status %ld", i, o[i].o_calls,
				 http_outcome_name(o[i].o_outcome), o[i].o_status);
	}
	/* No thread was started for them: the loop's one thread did it all. */
	assert_int_equal(peak, before);
	s = stats();
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "counts"), "anthropic")),
			 CONCURRENT / 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "counts"), "openai")), CONCURRENT / 2);
	json_decref(s);
	assert_int_equal(http_loop_pending(loop), 0);
	outcome_free(o, CONCURRENT);
	free(o);
}

static void bad_submissions_are_refused_without_a_callback(void **state)
{
	struct http_request hr = {0};
	struct outcome o = {0};
	bbb_status st;

	(void)state;
	status_clear(&st);
	assert_int_equal(http_loop_submit(loop, &hr, on_done, &o, &st), 0);
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	hr.url = "ftp://127.0.0.1/x";
	assert_int_not_equal(http_loop_submit(loop, &hr, on_done, &o, &st), 0);
	assert_int_equal(wait_all(&o, 1, NULL), 0);
	assert_int_equal(o.o_outcome, HTTP_OUTCOME_LOCAL_ERROR); /* only http and https are spoken */
	outcome_free(&o, 1);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(anthropic_call_succeeds_with_the_right_headers, reset_fake),
		cmocka_unit_test_setup(openai_tool_call_comes_back_parsed, reset_fake),
		cmocka_unit_test_setup(slow_answer_times_out, reset_fake),
		cmocka_unit_test_setup(rate_limit_reports_retry_after, reset_fake),
		cmocka_unit_test_setup(service_unavailable_is_retryable, reset_fake),
		cmocka_unit_test_setup(outage_window_answers_every_call_until_cleared, reset_fake),
		cmocka_unit_test_setup(malformed_body_is_a_protocol_error, reset_fake),
		cmocka_unit_test_setup(dropped_connection_and_closed_port_are_connection_failures, reset_fake),
		cmocka_unit_test_setup(cancel_aborts_an_in_flight_call_once, reset_fake),
		cmocka_unit_test_setup(callbacks_may_submit_the_next_call, reset_fake),
		cmocka_unit_test_setup(stop_calls_back_every_call_left_as_cancelled, reset_fake),
		cmocka_unit_test_setup(two_hundred_concurrent_calls_complete_on_one_thread, reset_fake),
		cmocka_unit_test_setup(bad_submissions_are_refused_without_a_callback, reset_fake),
	};

	(void)argc;
	(void)argv;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
