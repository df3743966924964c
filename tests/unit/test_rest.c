/* The original REST routes' pure parts (src/http/rest.c, rest_routes.c):
 * routing, inputs into request JSON, replies into the original's JSON, the
 * error envelope. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "beebeebrain/v1/agent.pb-c.h"
#include "beebeebrain/v1/task.pb-c.h"
#include "http/rest.h"

static int route(const char *method, const char *path, struct rest_match *m)
{
	return rest_match_route(rest_routes, rest_n_routes, method, path, m);
}

static void routes_match_patterns_and_capture_ids(void **state)
{
	struct rest_match m;

	(void)state;
	assert_int_equal(route("GET", "/api/v1/tasks/42", &m), 200);
	assert_string_equal(m.m_route->rt_rpc, "/beebeebrain.v1.TaskService/GetTask");
	assert_string_equal(m.m_caps[0], "42");
	assert_int_equal(route("POST", "/api/v1/tasks/7/pause", &m), 200);
	assert_string_equal(m.m_route->rt_rpc, "/beebeebrain.v1.TaskService/PauseTask");
	assert_int_equal(route("HEAD", "/api/v1/agents", &m), 200);
	assert_string_equal(m.m_route->rt_rpc, "/beebeebrain.v1.AgentService/ListAgents");
}

static void broadcast_wins_over_a_task_id_named_broadcast(void **state)
{
	struct rest_match m;

	(void)state;
	assert_int_equal(route("POST", "/api/v1/tasks/broadcast/pause", &m), 200);
	assert_string_equal(m.m_route->rt_rpc, "/beebeebrain.v1.TaskService/BroadcastCommand");
	assert_string_equal(m.m_caps[0], "pause");
}

static void unknown_paths_are_404_and_other_methods_405_with_allow(void **state)
{
	struct rest_match m;

	(void)state;
	assert_int_equal(route("GET", "/api/v1/nothing", &m), 404);
	assert_int_equal(route("GET", "/api/v1/tasks/1/2/3", &m), 404);
	assert_int_equal(route("GET", "/api/v1/tasks/", &m), 404);
	assert_int_equal(route("PUT", "/api/v1/tasks", &m), 405);
	assert_string_equal(m.m_allow, "GET, POST");
	assert_int_equal(route("GET", "/api/v1/tasks/1/pause", &m), 405);
	assert_string_equal(m.m_allow, "POST");
}

/* The request JSON of a route for the given query and body. */
static json_t *build(const char *method, const char *path, const ProtobufCMessageDescriptor *in, const char *query,
		     const char *body, bbb_status *st)
{
	struct rest_match m;
	json_t *q = query != NULL ? json_loads(query, 0, NULL) : NULL, *out;
	char trace[80] = "";

	assert_int_equal(route(method, path, &m), 200);
	out = rest_request_json(&m, in, q, body, body != NULL ? strlen(body) : 0, trace, sizeof(trace), st);
	json_decref(q);
	return out;
}

static void inputs_fill_the_request_fields_by_their_types(void **state)
{
	bbb_status st;
	json_t *j;

	(void)state;
	j = build("GET", "/api/v1/tasks", &beebeebrain__v1__list_tasks_request__descriptor,
		  "{\"status\":\"running\",\"project_id\":\"3\",\"offset\":\"2\"}", NULL, &st);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "project_id")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "limit")), 50);
	assert_int_equal(json_integer_value(json_object_get(j, "offset")), 2);
	json_decref(j);

	j = build("POST", "/api/v1/agents", &beebeebrain__v1__create_agent_request__descriptor, NULL,
		  "{\"project_id\":1,\"initial_persona_prompt\":\"p\",\"enabled_tools_json\":[\"read_file\"],"
		  "\"unknown\":1}",
		  &st);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "persona_prompt")), "p");
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "enabled_tools"), 0)), "read_file");
	assert_null(json_object_get(j, "unknown"));
	json_decref(j);
}

static void patch_lists_the_given_fields_in_the_mask(void **state)
{
	bbb_status st;
	json_t *j, *mask;

	(void)state;
	j = build("PATCH", "/api/v1/tasks/5", &beebeebrain__v1__update_task_request__descriptor, NULL,
		  "{\"title\":\"x\",\"assignee_agent_id\":null}", &st);
	assert_non_null(j);
	mask = json_object_get(j, "update_mask");
	assert_int_equal(json_array_size(mask), 2);
	assert_string_equal(json_string_value(json_array_get(mask, 0)), "title");
	assert_string_equal(json_string_value(json_array_get(mask, 1)), "assignee_agent_id");
	assert_int_equal(json_integer_value(json_object_get(j, "task_id")), 5);
	json_decref(j);
}

static void refusals_name_the_original_fields(void **state)
{
	bbb_status st;

	(void)state;
	assert_null(build("GET", "/api/v1/tasks/abc", &beebeebrain__v1__get_task_request__descriptor, NULL, NULL, &st));
	assert_string_equal(st.reason, "VALIDATION_ERROR");
	assert_string_equal(st.violations[0].field, "path.task_id");
	assert_null(build("GET", "/api/v1/tasks", &beebeebrain__v1__list_tasks_request__descriptor,
			  "{\"limit\":\"101\"}", NULL, &st));
	assert_string_equal(st.violations[0].field, "query.limit");
	assert_null(
		build("POST", "/api/v1/tasks", &beebeebrain__v1__create_task_request__descriptor, NULL, "{bad", &st));
	assert_string_equal(st.violations[0].field, "body.0");
	assert_string_equal(st.violations[0].description, "JSON decode error");
	assert_null(build("POST", "/api/v1/tasks/1/pause", &beebeebrain__v1__pause_task_request__descriptor, NULL, NULL,
			  &st));
	assert_string_equal(st.violations[0].field, "body");
	assert_null(build("POST", "/api/v1/tasks", &beebeebrain__v1__create_task_request__descriptor, NULL,
			  "{\"title\":\"t\"}", &st));
	assert_string_equal(st.violations[0].field, "body.project_id");
}

static void broadcast_without_ids_or_status_selects_running_tasks(void **state)
{
	bbb_status st;
	json_t *j;

	(void)state;
	j = build("POST", "/api/v1/tasks/broadcast/resume", &beebeebrain__v1__broadcast_command_request__descriptor,
		  NULL, "{\"project_id\":1}", &st);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "command")), 2);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "TASK_STATUS_RUNNING");
	json_decref(j);
	j = build("POST", "/api/v1/tasks/broadcast/pause", &beebeebrain__v1__broadcast_command_request__descriptor,
		  NULL, "{\"project_id\":1,\"task_ids\":[4,5],\"expected_version\":3}", &st);
	assert_non_null(j);
	assert_null(json_object_get(j, "status"));
	assert_int_equal(json_array_size(json_object_get(j, "expected_versions")), 2);
	json_decref(j);
}

static void times_and_money_in_the_originals_form(void **state)
{
	char buf[48];
	int64_t ms;

	(void)state;
	assert_string_equal(rest_iso_time(1796167466165, buf, sizeof(buf)), "2026-12-01T23:24:26.165Z");
	assert_int_equal(rest_parse_time("2026-12-01T23:24:26.165437", &ms), 0);
	assert_int_equal(ms, 1796167466165);
	assert_int_equal(rest_parse_time("2026-12-01T23:24:26Z", &ms), 0);
	assert_int_equal(ms, 1796167466000);
	assert_int_equal(rest_parse_time("2026-12-02T00:24:26+01:00", &ms), 0);
	assert_int_equal(ms, 1796167466000);
	assert_int_equal(rest_parse_time("2026-12-01", &ms), 0);
	assert_int_equal(rest_parse_time("yesterday", &ms), -1);
	assert_int_equal(rest_parse_time("2026-13-01", &ms), -1);
	assert_string_equal(rest_usd(1200, buf, sizeof(buf)), "0.0012");
	assert_string_equal(rest_usd(0, buf, sizeof(buf)), "0");
	assert_string_equal(rest_usd(12500000, buf, sizeof(buf)), "12.5");
}

static void messages_render_with_the_originals_names(void **state)
{
	Beebeebrain__V1__Agent ag = BEEBEEBRAIN__V1__AGENT__INIT;
	Beebeebrain__V1__Task t = BEEBEEBRAIN__V1__TASK__INIT;
	json_t *j;

	(void)state;
	ag.id = 1;
	ag.persona_prompt = "be brief";
	ag.status = BEEBEEBRAIN__V1__AGENT_STATUS__AGENT_STATUS_ACTIVE;
	j = rest_message_json(&ag.base);
	assert_string_equal(json_string_value(json_object_get(j, "initial_persona_prompt")), "be brief");
	assert_string_equal(json_string_value(json_object_get(j, "status")), "active");
	assert_int_equal(json_array_size(json_object_get(j, "enabled_tools_json")), 0);
	assert_true(json_is_null(json_object_get(j, "created_at")));
	json_decref(j);

	t.id = 9;
	t.status = BEEBEEBRAIN__V1__TASK_STATUS__TASK_STATUS_TODO;
	t.created_at_ms = 1796167466165;
	j = rest_message_json(&t.base);
	assert_true(json_is_null(json_object_get(j, "assignee_agent_id")));
	assert_true(json_is_null(json_object_get(j, "due_at")));
	assert_string_equal(json_string_value(json_object_get(j, "created_at")), "2026-12-01T23:24:26.165Z");
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 9);
	json_decref(j);
}

static void errors_use_the_envelope_and_the_originals_statuses(void **state)
{
	Beebeebrain__V1__RpcResponse r = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
	Beebeebrain__V1__FieldViolation v = BEEBEEBRAIN__V1__FIELD_VIOLATION__INIT, *vs[] = {&v};
	struct rest_match m;
	json_t *j;
	char *text;

	(void)state;
	assert_int_equal(rest_http_status(5, "TASK_NOT_FOUND"), 404);
	assert_int_equal(rest_http_status(9, "INVALID_TASK_TRANSITION"), 422);
	assert_int_equal(rest_http_status(9, "TASK_HAS_DEPENDENTS"), 409);
	assert_int_equal(rest_http_status(10, "TASK_VERSION_CONFLICT"), 409);
	assert_int_equal(rest_http_status(16, "UNAUTHORIZED"), 401);
	assert_int_equal(rest_http_status(14, "LLM_PROVIDER_UNAVAILABLE"), 503);

	assert_int_equal(route("POST", "/api/v1/agents", &m), 200);
	r.code = 3;
	r.reason = "VALIDATION_ERROR";
	r.message = "invalid request";
	v.field = "persona_prompt";
	v.description = "too long";
	r.violations = vs;
	r.n_violations = 1;
	text = rest_error_json(m.m_route, &r);
	j = json_loads(text, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			    "VALIDATION_ERROR");
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(json_object_get(j, "error"), "issues"), 0), "field")),
		"body.initial_persona_prompt");
	json_decref(j);
	free(text);
}

static void a_route_may_name_a_refusal_as_the_original_did(void **state)
{
	Beebeebrain__V1__RpcResponse r = BEEBEEBRAIN__V1__RPC_RESPONSE__INIT;
	Beebeebrain__V1__FieldViolation v = BEEBEEBRAIN__V1__FIELD_VIOLATION__INIT, *vs[] = {&v};
	struct rest_match m;

	(void)state;
	assert_int_equal(route("POST", "/api/v1/tasks", &m), 200);
	r.reason = "TASK_NOT_FOUND";
	assert_string_equal(rest_remap_reason(m.m_route, &r), "INVALID_TASK_DEPENDENCY");
	r.reason = "VALIDATION_ERROR";
	v.field = "status";
	r.violations = vs;
	r.n_violations = 1;
	assert_string_equal(rest_remap_reason(m.m_route, &r), "INVALID_TASK_TRANSITION");
	v.field = "title";
	assert_null(rest_remap_reason(m.m_route, &r));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(routes_match_patterns_and_capture_ids),
		cmocka_unit_test(broadcast_wins_over_a_task_id_named_broadcast),
		cmocka_unit_test(unknown_paths_are_404_and_other_methods_405_with_allow),
		cmocka_unit_test(inputs_fill_the_request_fields_by_their_types),
		cmocka_unit_test(patch_lists_the_given_fields_in_the_mask),
		cmocka_unit_test(refusals_name_the_original_fields),
		cmocka_unit_test(broadcast_without_ids_or_status_selects_running_tasks),
		cmocka_unit_test(times_and_money_in_the_originals_form),
		cmocka_unit_test(messages_render_with_the_originals_names),
		cmocka_unit_test(errors_use_the_envelope_and_the_originals_statuses),
		cmocka_unit_test(a_route_may_name_a_refusal_as_the_original_did),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
