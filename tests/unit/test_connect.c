/* The Connect protocol's pure parts (src/http/connect.c). */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/connect.h"

static void content_types_name_their_codec(void **state)
{
	(void)state;
	assert_int_equal(connect_codec_of("application/proto"), CONNECT_CODEC_PROTO);
	assert_int_equal(connect_codec_of("Application/Proto"), CONNECT_CODEC_PROTO);
	assert_int_equal(connect_codec_of("application/json"), CONNECT_CODEC_JSON);
	assert_int_equal(connect_codec_of("application/json; charset=utf-8"), CONNECT_CODEC_JSON);
	assert_int_equal(connect_codec_of("application/protobuf"), CONNECT_CODEC_UNKNOWN);
	assert_int_equal(connect_codec_of("application/connect+proto"), CONNECT_CODEC_UNKNOWN);
	assert_int_equal(connect_codec_of("text/plain"), CONNECT_CODEC_UNKNOWN);
	assert_int_equal(connect_codec_of(""), CONNECT_CODEC_UNKNOWN);
	assert_int_equal(connect_codec_of(NULL), CONNECT_CODEC_UNKNOWN);
}

static void timeouts_are_one_to_ten_digits_above_zero(void **state)
{
	uint32_t ms = 0;

	(void)state;
	assert_int_equal(connect_parse_timeout("1", &ms), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(connect_parse_timeout("5000", &ms), 0);
	assert_int_equal(ms, 5000);
	assert_int_equal(connect_parse_timeout("9999999999", &ms), 0);
	assert_int_equal(ms, UINT32_MAX); /* clamped to the envelope's field */
	assert_int_equal(connect_parse_timeout("0", &ms), -1);
	assert_int_equal(connect_parse_timeout("12345678901", &ms), -1);
	assert_int_equal(connect_parse_timeout("-5", &ms), -1);
	assert_int_equal(connect_parse_timeout("5s", &ms), -1);
	assert_int_equal(connect_parse_timeout(" 5", &ms), -1);
	assert_int_equal(connect_parse_timeout("", &ms), -1);
	assert_int_equal(connect_parse_timeout(NULL, &ms), -1);
}

static void codes_follow_connects_table(void **state)
{
	(void)state;
	assert_string_equal(connect_code_name(3), "invalid_argument");
	assert_string_equal(connect_code_name(1), "canceled");
	assert_string_equal(connect_code_name(16), "unauthenticated");
	assert_string_equal(connect_code_name(99), "unknown");
	assert_int_equal(connect_http_status(0, ""), 200);
	assert_int_equal(connect_http_status(3, "VALIDATION_ERROR"), 400);
	assert_int_equal(connect_http_status(4, "DEADLINE_EXCEEDED"), 504);
	assert_int_equal(connect_http_status(5, "TASK_NOT_FOUND"), 404);
	assert_int_equal(connect_http_status(6, "RESOURCE_CONFLICT"), 409);
	assert_int_equal(connect_http_status(7, "FORBIDDEN"), 403);
	assert_int_equal(connect_http_status(8, "OVERLOADED"), 429);
	assert_int_equal(connect_http_status(9, "INVALID_TASK_TRANSITION"), 400);
	assert_int_equal(connect_http_status(10, "TASK_VERSION_CONFLICT"), 409);
	assert_int_equal(connect_http_status(11, "EVENTS_PRUNED"), 400);
	assert_int_equal(connect_http_status(13, "INTERNAL_ERROR"), 500);
	assert_int_equal(connect_http_status(14, "DB_LOCKED"), 503);
	assert_int_equal(connect_http_status(16, "UNAUTHORIZED"), 401);
	/* The two exceptions: a path that names no method, a body too large. */
	assert_int_equal(connect_http_status(12, "UNKNOWN_METHOD"), 404);
	assert_int_equal(connect_http_status(8, "MESSAGE_TOO_LARGE"), 413);
}

static void base64_is_standard_and_unpadded(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"}, {"\xfb\xff", "+/8"}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *b = connect_base64((const uint8_t *)cases[i].in, strlen(cases[i].in));
		assert_string_equal(b, cases[i].out);
		free(b);
	}
}

/* Standard base64 without padding back to bytes (test helper). */
static size_t unbase64(const char *s, uint8_t *out)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (; *s != '\0'; s++) {
		acc = acc << 6 | (uint32_t)(strchr(abc, *s) - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

static void an_error_body_carries_the_rpc_response_as_its_detail(void **state)
{
	Beebeebrain__V1__RpcResponse r = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT, *back;
	Beebeebrain__V1__FieldViolation v = BEEBEEBRAIN__V1__FIELD_VIOLATION__INIT, *vp = &v;
	uint8_t payload[] = {1, 2, 3}, raw[1024];
	json_error_t jerr;
	json_t *o, *d;
	size_t len, n;
	char *text;

	(void)state;
	r.code = 3;
	r.reason = "VALIDATION_ERROR";
	r.message = "title: must be 1..160 characters";
	r.trace_id = "t-1";
	v.field = "title";
	v.description = "must be 1..160 characters";
	r.n_violations = 1;
	r.violations = &vp;
	r.payload.data = payload; /* never sent with an error */
	r.payload.len = sizeof(payload);
	text = connect_error_json(&r, &len);
	assert_int_equal(len, strlen(text));
	o = json_loads(text, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "code")), "invalid_argument");
	assert_string_equal(json_string_value(json_object_get(o, "message")), r.message);
	d = json_array_get(json_object_get(o, "details"), 0);
	assert_string_equal(json_string_value(json_object_get(d, "type")), "beebeebrain.v1.RpcResponse");
	assert_null(strchr(json_string_value(json_object_get(d, "value")), '='));
	n = unbase64(json_string_value(json_object_get(d, "value")), raw);
	back = beebeebrain__v1__rpc_response__unpack(NULL, n, raw);
	assert_non_null(back);
	assert_int_equal(back->code, 3);
	assert_string_equal(back->reason, "VALIDATION_ERROR");
	assert_string_equal(back->trace_id, "t-1");
	assert_int_equal(back->n_violations, 1);
	assert_string_equal(back->violations[0]->field, "title");
	assert_int_equal(back->payload.len, 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(d, "debug"), "reason")),
			    "VALIDATION_ERROR");
	beebeebrain__v1__rpc_response__free_unpacked(back, NULL);
	json_decref(o);
	free(text);
}

static void the_key_comes_from_bearer_else_x_api_key(void **state)
{
	(void)state;
	assert_string_equal(connect_api_key("Bearer abc", NULL), "abc");
	assert_string_equal(connect_api_key("bearer  abc", "other"), "abc");
	assert_string_equal(connect_api_key(NULL, "xyz"), "xyz");
	assert_string_equal(connect_api_key("Basic dXNlcjpwYXNz", "xyz"), "xyz");
	assert_string_equal(connect_api_key("Basic dXNlcjpwYXNz", NULL), "");
	assert_string_equal(connect_api_key(NULL, NULL), "");
}

static void stream_content_types_are_the_connect_ones(void **state)
{
	(void)state;
	assert_int_equal(connect_stream_codec_of("application/connect+proto"), CONNECT_CODEC_PROTO);
	assert_int_equal(connect_stream_codec_of("application/connect+json; charset=utf-8"), CONNECT_CODEC_JSON);
	assert_int_equal(connect_stream_codec_of("application/proto"), CONNECT_CODEC_UNKNOWN);
	assert_int_equal(connect_stream_codec_of(NULL), CONNECT_CODEC_UNKNOWN);
}

static void an_envelope_is_a_flag_byte_and_a_big_endian_length(void **state)
{
	uint8_t h[CONNECT_ENVELOPE_HEADER], body[8] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};
	const uint8_t *msg;
	size_t len;

	(void)state;
	connect_envelope_header(h, CONNECT_FLAG_END_STREAM, 0x01020304);
	assert_memory_equal(h, "\x02\x01\x02\x03\x04", 5);
	assert_int_equal(connect_unenvelope(body, sizeof(body), &msg, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(msg, "abc", 3);
	assert_int_equal(connect_unenvelope(body, sizeof(body) - 1, &msg, &len), -1); /* truncated */
	assert_int_equal(connect_unenvelope(body, 4, &msg, &len), -1);
	body[0] = CONNECT_FLAG_COMPRESSED;
	assert_int_equal(connect_unenvelope(body, sizeof(body), &msg, &len), -1);
}

static void end_of_stream_is_empty_or_carries_the_error(void **state)
{
	Beebeebrain__V1__RpcResponse e = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
	size_t n;
	char *text = connect_end_stream_json(NULL, &n);

	(void)state;
	assert_string_equal(text, "{}");
	assert_int_equal(n, 2);
	free(text);
	e.code = 14;
	e.reason = "SHUTTING_DOWN";
	e.message = "the server is stopping";
	e.trace_id = "";
	text = connect_end_stream_json(&e, &n);
	json_t *j = json_loads(text, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "unavailable");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
			    "the server is stopping");
	json_decref(j);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(content_types_name_their_codec),
		cmocka_unit_test(timeouts_are_one_to_ten_digits_above_zero),
		cmocka_unit_test(codes_follow_connects_table),
		cmocka_unit_test(base64_is_standard_and_unpadded),
		cmocka_unit_test(an_error_body_carries_the_rpc_response_as_its_detail),
		cmocka_unit_test(the_key_comes_from_bearer_else_x_api_key),
		cmocka_unit_test(stream_content_types_are_the_connect_ones),
		cmocka_unit_test(an_envelope_is_a_flag_byte_and_a_big_endian_length),
		cmocka_unit_test(end_of_stream_is_empty_or_carries_the_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
