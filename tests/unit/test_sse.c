/* The original API's event routes without I/O (src/http/sse.c): the stream
 * request's checks and cursor precedence, the record JSON, the frames and
 * the body of POST /api/v1/events. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/sse.h"

/* The error code of a refused request, and its issues' fields joined by ",". */
static int parse_error(const struct sse_query *q, char *code, size_t n, char *fields, size_t fn)
{
	struct sse_params p;
	char *err = NULL;
	int status = sse_parse(q, &p, &err);
	json_t *j, *issues;

	if (status == 0)
		return 0;
	j = json_loads(err, 0, NULL);
	assert_non_null(j);
	snprintf(code, n, "%s", json_string_value(json_object_get(json_object_get(j, "error"), "code")));
	issues = json_object_get(json_object_get(j, "error"), "issues");
	fields[0] = '\0';
	for (size_t i = 0; i < json_array_size(issues); i++) {
		const char *f = json_string_value(json_object_get(json_array_get(issues, i), "field"));
		strncat(fields, i > 0 ? "," : "", fn - strlen(fields) - 1);
		strncat(fields, f, fn - strlen(fields) - 1);
	}
	json_decref(j);
	free(err);
	return status;
}

static void defaults_replay_the_whole_history(void **state)
{
	struct sse_query q = {0};
	struct sse_params p;
	char *err = NULL;

	(void)state;
	assert_int_equal(sse_parse(&q, &p, &err), 0);
	assert_null(err);
	assert_int_equal(p.sp_after_id, 0);
	assert_int_equal(p.sp_last_n, 0);
	assert_int_equal(p.sp_max_events, 0);
	assert_int_equal(p.sp_heartbeat_s, 15);
}

static void a_cursor_wins_over_replay_last(void **state)
{
	struct sse_query q = {.q_replay_last = "20", .q_last_event_id = "7"};
	struct sse_params p;
	char *err = NULL;

	(void)state;
	assert_int_equal(sse_parse(&q, &p, &err), 0);
	assert_int_equal(p.sp_after_id, 7);
	assert_int_equal(p.sp_last_n, 0);
	q = (struct sse_query){.q_replay_last = "20", .q_header_last_event_id = "9"};
	assert_int_equal(sse_parse(&q, &p, &err), 0);
	assert_int_equal(p.sp_after_id, 9);
	assert_int_equal(p.sp_last_n, 0);
	q = (struct sse_query){.q_replay_last = "20"};
	assert_int_equal(sse_parse(&q, &p, &err), 0);
	assert_int_equal(p.sp_after_id, 0);
	assert_int_equal(p.sp_last_n, 20);
}

static void every_bad_value_is_an_issue_of_its_field(void **state)
{
	struct sse_query q = {.q_replay_last = "501",
			      .q_max_events = "x",
			      .q_heartbeat_seconds = "4",
			      .q_batch_size = "200",
			      .q_poll_interval_ms = "5000"};
	char code[64], fields[256];

	(void)state;
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 422);
	assert_string_equal(code, "VALIDATION_ERROR");
	assert_string_equal(fields, "query.replay_last,query.max_events,query.heartbeat_seconds");
	q = (struct sse_query){.q_project_id = "0",
			       .q_last_event_id = "-1",
			       .q_max_events = "1001",
			       .q_poll_interval_ms = "99",
			       .q_batch_size = "0"};
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 422);
	assert_string_equal(fields, "query.project_id,query.last_event_id,query.max_events,query.batch_size,"
				    "query.poll_interval_ms");
}

static void the_header_must_be_positive_and_agree_with_the_query(void **state)
{
	struct sse_query q = {.q_header_last_event_id = "abc"};
	char code[64], fields[256];

	(void)state;
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 422);
	assert_string_equal(code, "INVALID_LAST_EVENT_ID");
	q.q_header_last_event_id = "0";
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 422);
	assert_string_equal(code, "INVALID_LAST_EVENT_ID");
	q = (struct sse_query){.q_header_last_event_id = "5", .q_last_event_id = "4"};
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 422);
	assert_string_equal(code, "INVALID_LAST_EVENT_ID");
	q.q_last_event_id = "5";
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 0);
	/* A bad query value is reported first, as the original validated it first. */
	q = (struct sse_query){.q_header_last_event_id = "x", .q_max_events = "0"};
	assert_int_equal(parse_error(&q, code, sizeof(code), fields, sizeof(fields)), 422);
	assert_string_equal(code, "VALIDATION_ERROR");
}

static void categories_follow_the_original_table(void **state)
{
	(void)state;
	assert_string_equal(sse_category("task.status.changed"), "task_status");
	assert_string_equal(sse_category("run.status.changed"), "run_status");
	assert_string_equal(sse_category("run.log"), "run_log");
	assert_string_equal(sse_category("alert.raised"), "alert");
	assert_string_equal(sse_category("alert.resolved"), "generic");
	assert_string_equal(sse_category("operator.note"), "generic");
}

static void a_record_is_one_line_with_the_typed_payload(void **state)
{
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__RunLog log = BEEBEEBRAIN__V1__RUN_LOG__INIT;
	struct dbuf b;
	char *json;

	(void)state;
	ev.id = 42;
	ev.project_id = 3;
	ev.event_type = "run.log";
	ev.trace_id = "tr-1";
	ev.created_at_ms = 1796205550362;
	log.run_id = 9;
	log.message = "line\nwith break";
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_RUN_LOG;
	ev.run_log = &log;
	json = sse_record_json(&ev);
	assert_non_null(json);
	assert_null(strchr(json, '\n'));
	assert_string_equal(json, "{\"id\":42,\"project_id\":3,\"event_type\":\"run.log\",\"category\":\"run_log\","
				  "\"payload\":{\"run_id\":\"9\",\"message\":\"line\\nwith break\"},"
				  "\"created_at\":\"2026-12-02T09:59:10.362Z\",\"trace_id\":\"tr-1\"}");
	dbuf_init(&b, 4096);
	assert_int_equal(sse_frame(&b, ev.id, ev.event_type, json), 0);
	assert_true(strncmp(dbuf_str(&b), "id: 42\nevent: run.log\ndata: {", 29) == 0);
	assert_true(strcmp(dbuf_str(&b) + dbuf_len(&b) - 3, "}\n\n") == 0);
	dbuf_free(&b);
	free(json);
}

static void a_posted_event_gives_back_its_json(void **state)
{
	Beebeebrain__V1__Event ev = BEEBEEBRAIN__V1__EVENT__INIT;
	Beebeebrain__V1__CustomEvent c = BEEBEEBRAIN__V1__CUSTOM_EVENT__INIT;
	char *json;

	(void)state;
	ev.id = 1;
	ev.event_type = "alert.raised";
	c.data_json = "{\"code\":\"X\"}";
	ev.payload_case = BEEBEEBRAIN__V1__EVENT__PAYLOAD_CUSTOM;
	ev.custom = &c;
	json = sse_record_json(&ev);
	assert_non_null(strstr(json, "\"payload\":{\"code\":\"X\"}"));
	assert_non_null(strstr(json, "\"category\":\"alert\""));
	assert_non_null(strstr(json, "\"trace_id\":null"));
	free(json);
}

static void a_post_body_names_one_of_four_types(void **state)
{
	struct sse_post p;
	char *err = NULL;
	const char *ok = "{\"project_id\":1,\"event_type\":\"run.log\",\"payload\":{\"a\":[1]},\"trace_id\":\"t\"}";

	(void)state;
	assert_int_equal(sse_post_parse(ok, strlen(ok), &p, &err), 0);
	assert_string_equal(p.sp_event_type, "run.log");
	assert_string_equal(p.sp_payload_json, "{\"a\":[1]}");
	assert_string_equal(p.sp_trace_id, "t");
	sse_post_free(&p);
	const char *bad[] = {"{", "[]", "{\"project_id\":1,\"event_type\":\"operator.x\"}",
			     "{\"project_id\":0,\"event_type\":\"run.log\"}",
			     "{\"project_id\":1,\"event_type\":\"run.log\",\"payload\":3}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sse_post_parse(bad[i], strlen(bad[i]), &p, &err), 422);
		assert_non_null(strstr(err, "VALIDATION_ERROR"));
		free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_replay_the_whole_history),
		cmocka_unit_test(a_cursor_wins_over_replay_last),
		cmocka_unit_test(every_bad_value_is_an_issue_of_its_field),
		cmocka_unit_test(the_header_must_be_positive_and_agree_with_the_query),
		cmocka_unit_test(categories_follow_the_original_table),
		cmocka_unit_test(a_record_is_one_line_with_the_typed_payload),
		cmocka_unit_test(a_posted_event_gives_back_its_json),
		cmocka_unit_test(a_post_body_names_one_of_four_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
